"""Pure parts of the journey engine's scale rules: budget, pacing, shard sizing, the
sorting of provider errors, the names of the executions of a cohort's passes."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from memberflow.journeys import engine
from memberflow.journeys.channels import ChannelAdapters, Outgoing, Rejected, Throttled


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(engine.Budget, "clock", fake.clock)
    monkeypatch.setattr(engine.Budget, "pause", fake.pause)
    return fake


def test_the_pacer_keeps_a_shards_share_of_the_rate_and_stops_before_the_margin(fake_time):
    budget = engine.Budget(10_000)  # 10 s, margin 1 s
    pinned = {"messaging": {"send_rate_per_second": {"email": 14}}}
    rate = engine.shard_rate(pinned, "email", 40)  # 40 shards at once share 14/s
    assert rate == pytest.approx(14 / 40)
    pacer = engine.Pacer(rate, budget)
    sent = 0
    while pacer.wait():
        sent += 1
    # n sends take (n - 1) intervals; the next would end inside the 1 s margin.
    assert sent == 1 + int((10 - 1) * rate)
    assert fake_time.now <= 10 - budget.margin
    assert engine.shard_rate(pinned, "email", 100) == pytest.approx(14 / 40)  # ≤ 40 at once
    assert engine.shard_rate({"messaging": {}}, "sms", 2) == pytest.approx(10)  # default 20


def test_a_budget_is_exhausted_inside_its_margin_and_never_without_a_context(fake_time):
    budget = engine.Budget(300_000)
    assert budget.margin == 30 and not budget.exhausted()
    fake_time.now = 269.9
    assert not budget.exhausted()
    fake_time.now = 270.1
    assert budget.exhausted()
    unbounded = engine.Budget.of(object())  # no get_remaining_time_in_millis
    fake_time.now = 1e9
    assert not unbounded.exhausted() and unbounded.sleep(5)


def test_execution_names_of_a_cohorts_passes_are_unique_and_valid():
    long = "x" * 80
    names = {engine.execution_name(long, n) for n in range(1, 200)}
    assert len(names) == 199 and all(len(n) <= 80 for n in names)
    assert engine.execution_name("winback-2026-01-05", 3) == "winback-2026-01-05.p3"


@pytest.mark.parametrize(
    ("code", "error"),
    [("MessageRejected", Rejected), ("Throttling", Throttled), ("InternalFailure", None)],
)
def test_provider_errors_are_sorted_into_permanent_throttled_and_transient(code, error):
    adapters = ChannelAdapters(email_sender="shop@example.com", region="us-east-1")
    client = boto3.client(
        "ses", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    adapters.__dict__["_ses"] = client
    message = Outgoing("m1", "winback", "c1", "offer", "t", "en", "k", "s", "b")
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code=code, http_status_code=400)
        with pytest.raises(error or ClientError):
            adapters.send("email", message, email="to@example.com", phone=None)
