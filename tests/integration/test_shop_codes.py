"""Issue 14: journey coupons and point redemptions as real discount codes in the
member's shop, on the local stack: the real adapters (memberflow.shops) against the
local Shopify Admin GraphQL endpoint (memberflow_local.shops), which keeps the codes
and answers the checkout's checks (``stack.shops.use``). The default programme's Shopify
source creates codes (``discounts.create``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest

from memberflow.journeys import engine, incentives
from memberflow.journeys.channels import ChannelAdapters
from memberflow.members.identity import identity_key
from memberflow.shops import factory
from memberflow.store import Coupon, ExternalIdentity, LedgerEntry, Member
from memberflow_local.platforms import Deliveries
from memberflow_local.shops import CodeRefused
from tests.integration.test_journeys_support import (
    arm_ids,
    buy,
    enrol,
    enrolment,
    make_member,
    messages,
)

SHOP = "memberflow-demo.myshopify.com"
GID = "gid://shopify/Customer/{}"


@pytest.fixture
def shop(stack, monkeypatch):
    """The local Shopify shop; the adapters' retries do not wait (their backoff's sleep)."""
    monkeypatch.setattr(
        factory, "discount_shops", partial(factory.discount_shops, sleep=lambda _s: None)
    )
    return stack.shops


def codes(stack) -> dict:
    return stack.shops.codes(SHOP)


_customers: dict[str, str] = {}


def customer_id(member_id: str) -> str:
    return _customers.setdefault(member_id, str(820_000 + len(_customers)))


def customer_of(stack, member_id: str, *, listed: bool = True) -> Member:
    """A member who is a customer of the shop: the identity link, and its key on the
    member (as a sign-up writes them), or the link only (``listed=False``: a member
    written before the list existed)."""
    member = make_member(stack, member_id, locale="en")
    cid = customer_id(member_id)
    ExternalIdentity(
        identity_key=identity_key("shopify", SHOP, cid),
        member_id=member_id,
        platform="shopify",
        shop=SHOP,
        customer_id=cid,
        created_at=stack.clock.now(),
    ).save()
    keys = [identity_key("shopify", SHOP, cid)] if listed else None
    member.update(
        actions=[Member.shop_identities.set(keys)] if keys else [Member.shop_identities.remove()]
    )
    return member


def watch_sends(monkeypatch, stack) -> list[tuple[str, str | None, bool | None]]:
    """(member, code, whether the shop held the code at that moment) for every send."""
    seen = []
    real = ChannelAdapters.send

    def send(self, channel, message, **kwargs):
        known = message.coupon_code in codes(stack) if message.coupon_code else None
        seen.append((message.member_id, message.coupon_code, known))
        return real(self, channel, message, **kwargs)

    monkeypatch.setattr(ChannelAdapters, "send", send)
    return seen


def _through_activation(stack):
    """Enrolled today: nudge_1 now, nudge_2 in 7 days, nudge_3 (the coupon) in 14."""
    stack.clock.wait_idle()
    stack.advance(days=7)
    stack.advance(days=7)


def _coupon_codes() -> dict[str, str]:
    return {m.member_id: m.coupon_code for m in messages() if m.coupon_code}


def test_the_coupon_step_creates_one_code_per_treated_member_before_its_message(
    stack, shop, monkeypatch
):
    treated = arm_ids("activation", "treatment", 5, "act-t")
    (holdout,) = arm_ids("activation", "control", 1, "act-c")
    listed, unlisted, elsewhere = treated[:3], treated[3], treated[4]
    for member_id in [*listed, holdout]:
        customer_of(stack, member_id)
    customer_of(stack, unlisted, listed=False)  # found through the identities index
    make_member(stack, elsewhere, locale="en")  # no identity in the shop: as before
    sends = watch_sends(monkeypatch, stack)
    enrol("activation", [*treated, holdout])
    _through_activation(stack)

    coupon_sends = [(m, code, known) for m, code, known in sends if code]
    assert sorted(m for m, _, _ in coupon_sends) == sorted(treated)
    # every message that carried a code found it in the shop already
    assert all(known for m, _, known in coupon_sends if m != elsewhere)
    assert [known for m, _, known in coupon_sends if m == elsewhere] == [False]
    # exactly one code per treated customer of the shop, none for the holdout
    sent = _coupon_codes()
    assert set(codes(stack)) == {sent[m] for m in [*listed, unlisted]}
    for member_id in [*listed, unlisted]:
        held = codes(stack)[sent[member_id]]
        assert (held.kind, held.value, held.customer_ids, held.usage_limit) == (
            "percentage",
            Decimal(15),
            (GID.format(customer_id(member_id)),),
            1,
        )
        assert held.ends_at - held.starts_at == timedelta(days=14)
        coupon = Coupon.get(sent[member_id])
        assert (coupon.shop, coupon.status) == (SHOP, "issued")
        assert coupon.shop_discount_id.startswith("gid://shopify/DiscountCodeNode/")
    assert Coupon.get(sent[elsewhere]).shop is None
    # the member found through the index has its identity keys on the member now
    assert Member.get(unlisted).shop_identities == [
        identity_key("shopify", SHOP, customer_id(unlisted))
    ]
    # the member's code works at the shop's checkout, and only for that member
    first, second = listed[:2]
    with pytest.raises(CodeRefused):
        stack.shops.use(SHOP, sent[first], customer_id=customer_id(second))
    now = stack.clock.now()
    stack.shops.use(SHOP, sent[first], customer_id=customer_id(first), at=now)
    # the order using it (its codes as the platform sends them) closes the loop
    buy(first, now, "o-1", coupon_codes=(sent[first].lower(),))
    coupon = Coupon.get(sent[first])
    assert (coupon.redeemed_order_id, coupon.status) == ("o-1", "redeemed")
    assert (
        enrolment(first, "activation").status,
        enrolment(first, "activation").outcome_reason,
    ) == (
        "converted",
        "coupon",
    )
    # an unused code past its end is expired: derived on read, recorded when presented
    late = listed[2]
    assert incentives.coupon_status(Coupon.get(sent[late]), now) == "issued"
    after = now + timedelta(days=15)  # the code's 14 days are over
    assert incentives.coupon_status(Coupon.get(sent[late]), after) == "expired"
    with pytest.raises(CodeRefused, match="expired"):
        stack.shops.use(SHOP, sent[late], customer_id=customer_id(late), at=after)
    buy(late, after, "o-2", coupon_codes=(sent[late],))
    coupon = Coupon.get(sent[late])
    assert (coupon.status, coupon.redeemed_order_id) == ("expired", None)


def test_a_retried_pass_or_a_released_send_creates_no_second_code(stack, shop, monkeypatch):
    member_id, other = arm_ids("activation", "treatment", 2, "retry-t")
    for m in (member_id, other):
        customer_of(stack, m)
    real = ChannelAdapters.send
    failures = {"left": 1}

    def send(self, channel, message, **kwargs):
        if message.coupon_code and message.member_id == member_id and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("provider timed out")  # the claim is released
        return real(self, channel, message, **kwargs)

    monkeypatch.setattr(ChannelAdapters, "send", send)
    enrol("activation", [member_id, other])
    _through_activation(stack)
    requests = stack.shops.requests(SHOP)
    stack.advance(days=1)  # the failed member's retry pass
    assert [m.step for m in messages(member_id)] == ["nudge_1", "nudge_2", "nudge_3"]
    # the retry asked the shop again (the same key); the shop holds one code for it
    assert stack.shops.requests(SHOP) > requests
    assert sorted(codes(stack)) == sorted(_coupon_codes().values())
    assert len(codes(stack)) == 2
    # and a pass run again over the shard sends nothing and asks the shop nothing
    requests = stack.shops.requests(SHOP)
    runner = engine.StepRunner(
        channels=ChannelAdapters(email_sender="members@example.com"), now=stack.clock.now()
    )
    result = runner.run("activation-2026-01-05", 2, 0)
    assert result["counts"]["sent"] == 0 and stack.shops.requests(SHOP) == requests
    assert len(codes(stack)) == 2


def test_a_refusing_shop_defers_the_member_and_a_later_pass_sends_once(stack, shop):
    members = arm_ids("activation", "treatment", 2, "refuse-t")
    for m in members:
        customer_of(stack, m)
    enrol("activation", members)
    stack.clock.wait_idle()
    stack.advance(days=7)
    stack.shops.fault(SHOP, status=503)  # down from now on, until cleared
    stack.advance(days=7)
    # no message, no coupon, no progress at the step: nothing half-written
    for m in members:
        assert [x.step for x in messages(m)] == ["nudge_1", "nudge_2"]
        assert enrolment(m, "activation").steps_reached == ["nudge_1", "nudge_2"]
        assert enrolment(m, "activation").status == "open"
        code = engine.coupon_code("activation-2026-01-05", m, "nudge_3")
        with pytest.raises(Coupon.DoesNotExist):
            Coupon.get(code)
    assert codes(stack) == {}
    stack.shops.clear_faults()  # the shop accepts again
    stack.advance(seconds=incentives.REFUSED_RETRY_SECONDS + 5)
    for m in members:
        assert [x.step for x in messages(m)] == ["nudge_1", "nudge_2", "nudge_3"]
    assert sorted(codes(stack)) == sorted(_coupon_codes().values())


# ------------------------------------------------------------------ redemptions
def _signed_up(stack, customer: int) -> str:
    """A Shopify customer signed up through the webhook (the ingest keeps the identity's
    key on the member), with 1,000 points."""
    from memberflow.loyalty import service

    path, body, headers = Deliveries.for_stack(stack).shopify_customer(
        customer, f"c{customer}@example.com", "Ada", "Byron", stack.clock.now()
    )
    response = stack.http("POST", path, body=body, headers=headers)
    assert response.status == 200, response.body
    (member_id,) = response.json()["member_ids"]
    assert Member.get(member_id).shop_identities == [identity_key("shopify", SHOP, str(customer))]
    service.post_credit(
        member_id,
        kind="bonus",
        source="test",
        amount=1000,
        expires_at=stack.clock.now() + timedelta(days=300),
        now=stack.clock.now(),
    )
    return member_id


def _balance(stack, member_id: str) -> int:
    return stack.http("GET", f"/members/{member_id}").json()["points_balance"]


def test_a_redemption_pays_out_a_code_worth_the_points_and_a_retry_returns_it(stack, shop):
    member_id = _signed_up(stack, 5501)
    before = _balance(stack, member_id)
    path = f"/members/{member_id}/points/redeem"
    first = stack.http("POST", path, body={"points": 550, "reference": "pos-9"})
    assert first.status == 200, first.body
    body = first.json()
    discount = body["discount"]
    assert (body["points"], body["value"], body["balance"]) == (550, "5.50", before - 550)
    held = codes(stack)[discount["code"]]
    assert (held.kind, held.value, held.customer_ids) == (
        "fixed_amount",
        Decimal("5.50"),
        (GID.format(5501),),
    )
    assert (discount["value"], discount["shop"], discount["kind"]) == ("5.50", SHOP, "fixed_amount")
    requests = stack.shops.requests(SHOP)
    again = stack.http("POST", path, body={"points": 550, "reference": "pos-9"})
    assert again.status == 200 and again.json()["discount"] == discount
    assert again.json()["replayed"] is True and stack.shops.requests(SHOP) == requests
    assert _balance(stack, member_id) == before - 550 and len(codes(stack)) == 1
    entry = LedgerEntry.get(member_id, "redemption#pos-9")
    assert (entry.points, entry.payout_status) == (-550, "paid")
    # the code works at the checkout, and the order that uses it closes the loop
    stack.shops.use(SHOP, discount["code"], customer_id="5501", at=stack.clock.now())
    buy(member_id, stack.clock.now(), "o-r", coupon_codes=(discount["code"],))
    assert Coupon.get(discount["code"]).status == "redeemed"

    # a member who is no customer of a shop that creates codes redeems as before
    from memberflow.loyalty import service

    make_member(stack, "plain", locale="en")
    service.post_credit(
        "plain",
        kind="bonus",
        source="test",
        amount=200,
        expires_at=stack.clock.now() + timedelta(days=300),
        now=stack.clock.now(),
    )
    plain = _balance(stack, "plain")
    ok = stack.http("POST", "/members/plain/points/redeem", body={"points": 100, "reference": "x"})
    assert ok.status == 200 and ok.json()["discount"] is None
    named = stack.http(
        "POST",
        "/members/plain/points/redeem",
        body={"points": 100, "reference": "y", "shop": SHOP},
    )
    assert named.status == 409 and named.json()["error"]["field"] == "body.shop"
    assert _balance(stack, "plain") == plain - 100 and len(codes(stack)) == 1


def test_a_shop_failure_leaves_the_balance_unchanged_and_the_retry_pays_out(stack, shop):
    member_id = _signed_up(stack, 5502)
    before = _balance(stack, member_id)
    lots = [(lot.lot_id, lot.remaining) for lot in Member.get(member_id).points_lots]
    path = f"/members/{member_id}/points/redeem"
    stack.shops.fault(SHOP, status=503)
    failed = stack.http("POST", path, body={"points": 300, "reference": "r-1"})
    assert failed.status == 503 and failed.headers.get("Retry-After"), failed.body
    assert failed.json()["error"]["field"] == "shop"
    assert _balance(stack, member_id) == before
    assert [(lot.lot_id, lot.remaining) for lot in Member.get(member_id).points_lots] == lots
    entry = LedgerEntry.get(member_id, "redemption#r-1")
    assert (entry.points, entry.payout_status) == (0, "reversed")
    stack.shops.fault(SHOP, status=401)  # a token the shop refuses: not worth a retry
    refused = stack.http("POST", path, body={"points": 300, "reference": "r-1"})
    assert refused.status == 502, refused.body
    assert _balance(stack, member_id) == before and codes(stack) == {}
    stack.shops.clear_faults()
    ok = stack.http("POST", path, body={"points": 300, "reference": "r-1"})
    assert ok.status == 200, ok.body
    assert ok.json()["discount"]["value"] == "3.00"
    assert _balance(stack, member_id) == before - 300 and len(codes(stack)) == 1
    assert LedgerEntry.get(member_id, "redemption#r-1").payout_status == "paid"


# ------------------------------------------------------------------ the demo
def test_a_planted_purchase_with_a_code_the_shop_does_not_know_does_not_count(stack, shop):
    from memberflow_local.simulation import SimMember, Simulation, SimulationConfig

    simulation = Simulation(stack, SimulationConfig(members=1, days=1))
    m = SimMember(
        0, "shopify", 8_000_000_000, "member0@example.com", "Ada", "Lovelace", 0.1, 0.1, 0
    )
    m.member_id = "mbr_demo"
    requests = simulation.requests
    simulation._order(m, stack.clock.now(), "planted:activation", "MFNOTINSHOP")
    assert (m.orders, simulation.requests) == ([], requests)  # no order was placed
    assert (simulation.coupons_refused, simulation.coupons_used) == (1, 0)
    # the same purchase with a code the shop holds for this customer is placed
    from memberflow.runtime import app_context
    from memberflow.shops import DiscountCode

    now = stack.clock.now()
    code = DiscountCode(
        key="MFINSHOP",
        code="MFINSHOP",
        kind="percentage",
        value=Decimal(15),
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=14),
        customer_id=str(m.customer_id),
    )
    assert "MFINSHOP" in app_context().discount_shops()[SHOP].create_codes([code]).created
    simulation._order(m, now, "planted:activation", "MFINSHOP")
    assert [cause for _, cause, _ in m.orders] == ["planted:activation"]
    assert simulation.coupons_used == 1 and codes(stack)["MFINSHOP"].used == 1


# ------------------------------------------------------------------ calls
def test_creating_the_codes_keeps_the_cohort_step_at_two_aws_calls_a_member(stack, shop):
    from bench._journey_calls import cohort_step_calls

    # win-back: both steps carry a coupon, so every send first creates its code
    figures = cohort_step_calls(stack, members=40, journey="winback", shop=SHOP)
    assert figures["cohort_step_per_member"] <= 2.0, figures
    ops = figures["step_calls_by_operation"]
    assert "dynamodb:Query" not in ops and "dynamodb:PutItem" not in ops
    # one code per send, one Shopify mutation each (HTTP requests, not AWS calls)
    assert figures["sends"] > 60
    assert figures["shop_codes"] == figures["sends"] == figures["shop_requests"]
