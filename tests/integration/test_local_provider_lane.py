"""The provider lane (memberflow_local/provider_lane.py) answers SES SendEmail and SNS
Publish exactly as moto's own HTTP path does, records the same messages in moto's
backends, and never runs ahead of IAM."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from memberflow_local import iam, provider_lane
from memberflow_local.stack import ACCOUNT, REGION

_RANDOM = ("RequestId", "x-amzn-requestid", "date")


def _shape(value: str) -> str:
    """A random id's format: its separators and the length of each run."""
    return re.sub(r"[a-z0-9]", "x", value)


def _normalised(node):
    if isinstance(node, dict):
        return {
            key: ("<random>" if key in _RANDOM else _normalised(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_normalised(value) for value in node]
    return node


def _outcome(call, **params):
    try:
        answer = call(**params)
    except ClientError as error:
        return "error", _normalised(error.response), error.operation_name
    except Exception as error:  # moto's own crash, which both paths must share
        return "raised", type(error).__name__, str(error)
    message_id = answer.pop("MessageId")
    return "ok", _normalised(answer), _shape(message_id)


def _requests(stack):
    ses, sns = stack.client("ses"), stack.client("sns")
    sender = ses.list_identities()["Identities"][0]
    topic = sns.create_topic(Name="lane")["TopicArn"]
    text = {"Subject": {"Data": "Hej & <välkommen>"}, "Body": {"Text": {"Data": "100 points"}}}
    html = {"Subject": {"Data": "s"}, "Body": {"Html": {"Data": "<p>html</p>"}}}
    to = {"ToAddresses": ["ada@example.com"], "CcAddresses": ["bo@example.com"]}
    return [
        (ses.send_email, {"Source": sender, "Destination": to, "Message": text}),
        (ses.send_email, {"Source": sender, "Destination": to, "Message": html}),
        (ses.send_email, {"Source": "nobody@unverified.test", "Destination": to, "Message": text}),
        (
            ses.send_email,
            {"Source": sender, "Destination": {"ToAddresses": ["no address"]}, "Message": text},
        ),
        (
            ses.send_email,
            {
                "Source": sender,
                "Destination": {"ToAddresses": [f"m{n}@example.com" for n in range(51)]},
                "Message": text,
            },
        ),
        (sns.publish, {"PhoneNumber": "+447700900123", "Message": "hi"}),
        (sns.publish, {"PhoneNumber": "0770 090", "Message": "hi"}),
        (sns.publish, {"TopicArn": topic, "Message": "to a topic", "Subject": "s"}),
        (sns.publish, {"TopicArn": topic + "-gone", "Message": "x"}),
        (
            sns.publish,
            {
                "TopicArn": topic,
                "Message": "x",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "ten"}},
            },
        ),
        (sns.publish, {"Message": "no target"}),
    ]


def _recorded(start: tuple[int, int]):
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    ses = ses_backends[ACCOUNT][REGION].sent_messages[start[0] :]
    sms = list(sns_backends[ACCOUNT][REGION].sms_messages.values())[start[1] :]
    return [(m.source, m.subject, m.body, m.destinations) for m in ses], sms


def _run(stack, monkeypatch):
    """Every request's outcome, what moto's backends recorded, and how many calls went
    through moto's HTTP dispatch."""
    from moto.ses.models import ses_backends
    from moto.ses.responses import EmailResponse
    from moto.sns.models import sns_backends
    from moto.sns.responses import SNSResponse

    dispatched = []
    for cls in (EmailResponse, SNSResponse):  # setup_class: moto's HTTP path only
        original = cls.setup_class
        monkeypatch.setattr(
            cls,
            "setup_class",
            lambda self, *a, __o=original, **k: dispatched.append(self) or __o(self, *a, **k),
        )
    start = (
        len(ses_backends[ACCOUNT][REGION].sent_messages),
        len(sns_backends[ACCOUNT][REGION].sms_messages),
    )
    outcomes = [_outcome(call, **params) for call, params in _requests(stack)]
    monkeypatch.undo()
    return outcomes, _recorded(start), len(dispatched)


def test_the_provider_lane_answers_exactly_as_motos_http_path(stack, monkeypatch):
    lane, lane_recorded, lane_dispatched = _run(stack, monkeypatch)
    with provider_lane.motos_own_provider_calls():
        moto, moto_recorded, moto_dispatched = _run(stack, monkeypatch)
    assert lane == moto
    assert lane_recorded == moto_recorded
    # Each path was the one taken: the lane sent nothing through moto's HTTP dispatch.
    # (ListIdentities and CreateTopic take moto's path in both.)
    assert lane_dispatched == 2 and moto_dispatched == 2 + len(moto)
    kinds = [kind for kind, *_ in lane]
    assert kinds == [
        "ok",
        "ok",
        "error",
        "error",
        "error",
        "ok",
        "error",
        "ok",
        "error",
        "error",
        "raised",
    ]
    rejected = lane[2][1]
    assert rejected["Error"] == {
        "Type": "Sender",
        "Code": "MessageRejected",
        "Message": "Email address not verified nobody@unverified.test",
    }
    assert rejected["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert lane[3][1]["Error"]["Code"] == "InvalidParameterValue"
    assert lane[4][1]["Error"]["Message"] == "Too many recipients."
    assert lane[6][1]["Error"]["Code"] == "InvalidParameter"
    assert lane[8][1]["Error"]["Code"] == "NotFound"
    # SES's message id format (moto's), a UUID for SNS; the request id is present.
    assert lane[0][2] == "x" * 16 + "-" + "x" * 8 + "-xxxx-xxxx-xxxx-" + "x" * 12 + "-xxxxxx"
    assert lane[5][2] == "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    assert lane[0][1]["ResponseMetadata"]["RequestId"] == "<random>"
    (text, html), sms = lane_recorded[0], lane_recorded[1]
    assert text[1:3] == ("Hej & <välkommen>", "100 points") and html[2] == "<p>html</p>"
    assert text[3]["CcAddresses"] == ["bo@example.com"]
    assert sms == [("+447700900123", "hi")]


def test_the_request_id_and_message_ids_are_fresh_on_each_call(stack):
    ses = stack.client("ses")
    params = {
        "Source": ses.list_identities()["Identities"][0],
        "Destination": {"ToAddresses": ["ada@example.com"]},
        "Message": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    }
    first, second = ses.send_email(**params), ses.send_email(**params)
    assert first["MessageId"] != second["MessageId"]
    ids = {first["ResponseMetadata"]["RequestId"], second["ResponseMetadata"]["RequestId"]}
    assert len(ids) == 2 and all(len(i) == 52 for i in ids)
    headers = first["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-requestid"] == first["ResponseMetadata"]["RequestId"]


def test_iam_decides_before_the_lane(stack):
    """A function without ses:SendEmail is denied (SES's AccessDenied, nothing sent);
    the journey step, which holds it, sends through the lane."""
    from moto.ses.models import ses_backends

    ses, sns = stack.client("ses"), stack.client("sns")
    sender = ses.list_identities()["Identities"][0]
    params = {
        "Source": sender,
        "Destination": {"ToAddresses": ["ada@example.com"]},
        "Message": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    }
    sent = ses_backends[ACCOUNT][REGION].sent_messages
    before = len(sent)
    with iam.acting_as(stack.iam.of_function("KpiSnapshotFunction")):
        with pytest.raises(ClientError) as error:
            ses.send_email(**params)
        assert error.value.response["Error"]["Code"] == "AccessDenied"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "`ses:SendEmail' on resource" in error.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as error:
            sns.publish(PhoneNumber="+447700900123", Message="hi")
        assert error.value.response["Error"]["Code"] == "AuthorizationError"
    assert len(sent) == before
    with iam.acting_as(stack.iam.of_function("JourneyStepFunction")):
        ses.send_email(**params)
    assert len(sent) == before + 1


def test_a_denied_call_is_iams_answer_even_if_the_lane_ran_first(stack):
    """The lane's own guard: called directly with IAM's recorded denial, it returns
    IAM's error, not moto's answer."""
    model = stack.client("ses").meta.service_model.operation_model("SendEmail")
    principal = stack.iam.of_function("KpiSnapshotFunction")
    context = {iam._DENIAL: (principal, "ses:SendEmail", "identity/x", iam.IMPLICIT)}
    http, parsed = provider_lane.provider_lane(
        model=model,
        params={"url": "https://email.us-east-1.amazonaws.com/", "body": {}, "headers": {}},
        context=context,
    )
    assert http.status_code == 403 and parsed["Error"]["Code"] == "AccessDenied"


def test_the_provider_lane_seams_are_in_place():
    """moto 5.2.5's names the lane relies on: fails loudly if an upgrade moves them."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.responses import BaseResponse
    from moto.ses.responses import EmailResponse
    from moto.sns.responses import SNSResponse

    assert "query" in PROTOCOL_PARSERS
    for name in ("serialized", "_transform_response", "_enrich_response", "region_regex"):
        assert hasattr(BaseResponse, name), name
    assert callable(EmailResponse.send_email) and callable(SNSResponse.publish)
    for cls in (EmailResponse, SNSResponse):
        handler = cls()
        assert handler.automated_parameter_parsing, cls


def _unusual_requests(stack):
    """Calls the lane leaves to moto's own path: parameters that are not text (a client
    without parameter validation, as moto's Step Functions SDK clients are) and a client
    without credentials (botocore refuses to sign)."""
    import boto3
    from botocore.config import Config

    loose = boto3.client("sns", region_name=REGION, config=Config(parameter_validation=False))
    ses = boto3.client("ses", region_name=REGION, config=Config(parameter_validation=False))
    sender = stack.client("ses").list_identities()["Identities"][0]
    anonymous = boto3.client("sns", region_name=REGION)
    anonymous._request_signer._credentials = None
    phone = "+447700900123"
    return [
        (loose.publish, {"PhoneNumber": phone, "Message": ["a", "b"]}),
        (loose.publish, {"PhoneNumber": phone, "Message": {"x": 1}}),
        (loose.publish, {"PhoneNumber": phone, "Message": b"\xff\xfeok"}),
        (
            ses.send_email,
            {
                "Source": sender,
                "Destination": {"ToAddresses": ["ada@example.com"]},
                "Message": {"Subject": {"Data": ["s1", "s2"]}, "Body": {"Text": {"Data": "b"}}},
            },
        ),
        (anonymous.publish, {"PhoneNumber": phone, "Message": "hi"}),
    ]


def test_parameters_that_are_not_text_and_unsigned_clients_get_motos_own_answer(stack):
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    def run():
        start = (
            len(ses_backends[ACCOUNT][REGION].sent_messages),
            len(sns_backends[ACCOUNT][REGION].sms_messages),
        )
        outcomes = [_outcome(call, **params) for call, params in _unusual_requests(stack)]
        return outcomes, _recorded(start)

    lane = run()
    with provider_lane.motos_own_provider_calls():
        moto = run()
    assert lane == moto
    outcomes, _ = lane
    assert outcomes[-1] == ("raised", "NoCredentialsError", "Unable to locate credentials")
