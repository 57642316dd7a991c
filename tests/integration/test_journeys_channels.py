"""Channels, send windows, versioning and A/B variants on the local stack."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

from standardwebhooks import Webhook

from memberflow import runtime
from memberflow.journeys.experiments import assign_variant
from memberflow.store import Cohort
from memberflow_local.stack import LocalStack
from tests.integration.test_journeys_support import (
    arm_ids,
    enrol,
    make_member,
    messages,
    programme_file,
    ses_sent,
)


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _four_channels(doc):
    doc["messaging"]["frequency_cap"]["max_messages"] = 10
    doc["journeys"]["activation"]["steps"] = [
        {"id": "by_email", "wait_days": 0, "channel": "email", "template": "activation_nudge"},
        {"id": "by_sms", "wait_days": 1, "channel": "sms", "template": "activation_nudge"},
        {"id": "by_esp", "wait_days": 1, "channel": "esp", "template": "activation_nudge"},
        {
            "id": "by_webhook",
            "wait_days": 1,
            "channel": "webhook",
            "template": "activation_coupon",
            "incentive": {"type": "coupon", "percent_off": 15, "valid_days": 14},
        },
    ]


def test_each_channel_delivers_on_the_local_stack(tmp_path, monkeypatch):
    # LocalStack(programme_file=...) exports MEMBERFLOW_PROGRAMME_FILE: undo it afterwards.
    monkeypatch.setenv("MEMBERFLOW_PROGRAMME_FILE", "")
    monkeypatch.delenv("MEMBERFLOW_PROGRAMME_FILE")
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with LocalStack(programme_file=str(programme_file(tmp_path, _four_channels))) as stack:
            monkeypatch.setenv(
                "OUTBOUND_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hooks"
            )
            runtime.reset()
            sqs = stack.client("sqs")
            queue = sqs.create_queue(QueueName="esp")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            events = stack.client("events")
            bus = stack.physical["JourneyEventBus"]["Name"]
            events.put_rule(
                Name="esp", EventBusName=bus, EventPattern='{"source": ["memberflow.journeys"]}'
            )
            events.put_targets(
                Rule="esp", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}]
            )
            (member_id,) = arm_ids("activation", "treatment", 1, "chan-")
            make_member(stack, member_id, sms=True, phone="+8613800000000", locale="en")
            enrol("activation", [member_id])
            stack.advance(days=4)

            assert [m.channel for m in messages(member_id)] == ["email", "sms", "esp", "webhook"]
            (email,) = ses_sent(stack)
            assert email.destinations["ToAddresses"] == [f"{member_id}@example.com"]
            assert "100 points" in email.body
            from moto.sns.models import sns_backends

            sms = list(sns_backends["123456789012"]["us-east-1"].sms_messages.values())
            assert [phone for phone, _text in sms] == ["+8613800000000"]
            hand_off = sqs.receive_message(QueueUrl=queue)["Messages"]
            detail = json.loads(hand_off[0]["Body"])["detail"]
            assert detail["member_id"] == member_id and detail["step"] == "by_esp"
            assert "@" not in hand_off[0]["Body"]  # ids only: the ESP resolves the profile

            ((headers, body),) = _Receiver.received
            headers = {k.lower(): v for k, v in headers.items()}
            secret = stack.webhook_secrets["MEMBERFLOW_WEBHOOK_SECRET"]
            when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), ZoneInfo("UTC"))
            expected = Webhook(secret).sign(headers["webhook-id"], when, body.decode())
            assert headers["webhook-signature"] == expected  # the reference implementation
            payload = json.loads(body)
            assert payload["type"] == "journey.message"
            assert payload["data"]["coupon_code"].startswith("MF")
    finally:
        server.shutdown()


def test_outside_the_send_window_the_message_waits_for_it(stack):
    shanghai, los_angeles = arm_ids("activation", "treatment", 2, "tz-")
    make_member(stack, shanghai)  # 16:00 local: inside 09:00-21:00
    make_member(stack, los_angeles, timezone="America/Los_Angeles")  # 00:00 local
    enrol("activation", [shanghai, los_angeles])
    stack.clock.wait_idle()
    assert [m.member_id for m in messages()] == [shanghai]
    stack.advance(hours=12)
    (late,) = messages(los_angeles)
    local = late.sent_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.hour, local.minute) == (9, 0)  # waited for the window, not dropped
    stack.advance(days=15)
    for message in messages():
        zone = ZoneInfo(
            "America/Los_Angeles" if message.member_id == los_angeles else "Asia/Shanghai"
        )
        assert 9 <= message.sent_at.astimezone(zone).hour < 21
    assert len(messages(los_angeles)) == len(messages(shanghai)) == 3


def _version_b(doc):
    doc["version"] = "B"
    steps = doc["journeys"]["activation"]["steps"]
    steps[0]["variants"] = ["activation_nudge", "recall_reminder"]
    steps[1]["template"] = "winback_final"
    steps[2]["wait_days"] = 3


def test_cohorts_finish_on_the_configuration_they_started_with(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERFLOW_PROGRAMME_FILE", "")
    monkeypatch.delenv("MEMBERFLOW_PROGRAMME_FILE")
    path = programme_file(tmp_path, lambda doc: doc.update(version="A"))
    with LocalStack(programme_file=str(path)) as stack:
        old = arm_ids("activation", "treatment", 4, "va-")
        for member_id in old:
            make_member(stack, member_id)
        enrol("activation", old, cohort_id="activation-2026-01-05")
        stack.clock.wait_idle()
        path.write_text(programme_file(tmp_path, _version_b, "b.json").read_text())
        runtime.reset()
        new = arm_ids("activation", "treatment", 12, "vb-")
        for member_id in new:
            make_member(stack, member_id)
        enrol("activation", new, cohort_id="activation-2026-01-05b")
        stack.advance(days=15)  # past the last nudge of both cohorts
        assert Cohort.get("activation-2026-01-05").config_version == "A"
        assert Cohort.get("activation-2026-01-05b").config_version == "B"
        for member_id in old:  # in flight under A: A's templates and waits to the end
            sent = messages(member_id)
            assert [m.template for m in sent] == [
                "activation_nudge",
                "activation_nudge",
                "activation_coupon",
            ]
            assert (sent[2].sent_at - sent[1].sent_at).days == 7
        variants = set()
        for member_id in new:
            sent = messages(member_id)
            want = ["activation_nudge", "recall_reminder"][
                assign_variant(member_id, "activation", "B", 2)
            ]
            assert [m.template for m in sent] == [want, "winback_final", "activation_coupon"]
            assert (sent[2].sent_at - sent[1].sent_at).days == 3
            variants.add(want)
        assert variants == {"activation_nudge", "recall_reminder"}  # both arms of the A/B


def test_a_message_rejected_by_ses_fails_the_member_once_and_is_never_retried(stack, monkeypatch):
    """SES answers ``MessageRejected`` (in the sandbox: an address that is not verified);
    moto answers it when the sender identity is not verified, the same error."""
    from memberflow.journeys.channels import ChannelAdapters
    from memberflow.store import Enrolment
    from memberflow_local import iam

    rejected, delivered = arm_ids("dormancy_recall", "treatment", 2, "sandbox-")
    for member_id in (rejected, delivered):
        make_member(stack, member_id, stage="at_risk")
    ses = stack.client("ses")
    sender = runtime.app_context().settings.email_sender
    real_send = ChannelAdapters.send
    attempts: dict[str, int] = {}

    def send(self, channel, message, **kwargs):
        attempts[message.member_id] = attempts.get(message.member_id, 0) + 1
        if message.member_id != rejected:
            return real_send(self, channel, message, **kwargs)
        with iam.acting_as(None):  # the test's own calls, as the operator
            ses.delete_identity(Identity=sender)  # this recipient's send is refused ...
        try:
            return real_send(self, channel, message, **kwargs)
        finally:
            with iam.acting_as(None):
                ses.verify_email_identity(EmailAddress=sender)  # ... the others' are not

    monkeypatch.setattr(ChannelAdapters, "send", send)
    enrol("dormancy_recall", [rejected, delivered])
    stack.advance(days=40)
    assert attempts[rejected] == 1  # recorded once, no retry, no later step
    failed = Enrolment.get(rejected, "dormancy_recall#dormancy_recall-2026-01-05")
    assert (failed.status, failed.outcome_reason) == ("failed", "rejected:MessageRejected")
    assert failed.steps_reached == ["reminder:rejected"] and not failed.failures
    assert messages(rejected) == []  # no claim left behind
    assert [m.step for m in messages(delivered)] == ["reminder", "double_points", "coupon"]
