"""Issue 14: journey coupons and point redemptions as real discount codes in the
member's shop, on the local stack.

The shop here is :class:`FakeShop` (memberflow.shops.DiscountShop, idempotent on the key
as the adapters promise), standing in until the adapters and the local endpoints are
merged; it records every call so the tests can tell what the shop knew when."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from memberflow.journeys import engine, incentives
from memberflow.journeys.channels import ChannelAdapters
from memberflow.members.identity import identity_key
from memberflow.shops import CreatedCode, Creation, ShopRefused
from memberflow.store import Coupon, ExternalIdentity, LedgerEntry, Member
from tests.integration.test_journeys_support import (
    arm_ids,
    buy,
    enrol,
    enrolment,
    make_member,
    messages,
)

SHOP = "memberflow-demo.myshopify.com"
SOURCES = {
    "shopify": [
        {"shop": SHOP, "secret": "shopify", "discounts": {"create": True, "title": "Members"}}
    ]
}


class FakeShop:
    """A shop that keeps its codes by memberflow's key (as the adapters do)."""

    platform = "shopify"
    shop = SHOP

    def __init__(self):
        self.codes: dict = {}  # key -> DiscountCode
        self.calls: list[list[str]] = []
        self.refuse: dict[str, ShopRefused] = {}  # key -> refusal, while present
        self.down: ShopRefused | None = None  # every call refused
        self.lock = threading.Lock()

    def create_codes(self, codes):
        with self.lock:
            self.calls.append([c.key for c in codes])
            if self.down is not None:
                raise self.down
            created, refused = {}, {}
            for code in codes:
                if code.key in self.refuse:
                    refused[code.key] = self.refuse[code.key]
                    continue
                self.codes.setdefault(code.key, code)
                created[code.key] = CreatedCode(code.key, code.code, f"gid://{code.key}")
            return Creation(created=created, refused=refused)


@pytest.fixture
def shop(monkeypatch):
    fake = FakeShop()
    monkeypatch.setattr(incentives, "shops_provider", lambda: {SHOP: fake})
    monkeypatch.setattr(incentives, "sources_provider", lambda: SOURCES)
    return fake


def customer_of(stack, member_id: str, *, listed: bool = True) -> Member:
    """A member who is customer ``c-<id>`` of the shop: the identity link, and its key
    on the member (as a sign-up writes them), or the link only (``listed=False``)."""
    member = make_member(stack, member_id, locale="en")
    ExternalIdentity(
        identity_key=identity_key("shopify", SHOP, f"c-{member_id}"),
        member_id=member_id,
        platform="shopify",
        shop=SHOP,
        customer_id=f"c-{member_id}",
        created_at=stack.clock.now(),
    ).save()
    keys = [identity_key("shopify", SHOP, f"c-{member_id}")] if listed else None
    member.update(
        actions=[Member.shop_identities.set(keys)] if keys else [Member.shop_identities.remove()]
    )
    return member


def watch_sends(monkeypatch, shop: FakeShop) -> list[tuple[str, str | None, bool]]:
    """(member, code, whether the shop had the code at that moment) for every send."""
    seen = []
    real = ChannelAdapters.send

    def send(self, channel, message, **kwargs):
        known = message.coupon_code in shop.codes if message.coupon_code else None
        seen.append((message.member_id, message.coupon_code, known))
        return real(self, channel, message, **kwargs)

    monkeypatch.setattr(ChannelAdapters, "send", send)
    return seen


def _through_activation(stack):
    stack.clock.wait_idle()
    stack.advance(days=7)
    stack.advance(days=7)


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
    sends = watch_sends(monkeypatch, shop)
    enrol("activation", [*treated, holdout])
    _through_activation(stack)

    coupon_sends = [(m, c, k) for m, c, k in sends if c]
    assert sorted(m for m, _, _ in coupon_sends) == sorted(treated)
    # every message that carried a code found the code in the shop already
    assert all(known for m, _, known in coupon_sends if m != elsewhere)
    assert [known for m, _, known in coupon_sends if m == elsewhere] == [False]
    # one code per treated customer of the shop, none for the holdout
    codes = {m.member_id: m.coupon_code for m in messages() if m.coupon_code}
    assert set(shop.codes) == {codes[m] for m in [*listed, unlisted]}
    for member_id in [*listed, unlisted]:
        code = shop.codes[codes[member_id]]
        assert (code.kind, code.value, code.customer_id) == (
            "percentage",
            Decimal(15),
            f"c-{member_id}",
        )
        assert code.ends_at - code.starts_at == timedelta(days=14) and code.title == "Members"
        coupon = Coupon.get(codes[member_id])
        assert (coupon.shop, coupon.shop_discount_id) == (SHOP, f"gid://{codes[member_id]}")
    assert Coupon.get(codes[elsewhere]).shop is None
    # the codes of the shard went in one bulk call (the shard's members, in one chunk)
    assert len(shop.calls) == 1 and sorted(shop.calls[0]) == sorted(shop.codes)
    # the member found through the index has its identity keys on the member now
    assert Member.get(unlisted).shop_identities == [identity_key("shopify", SHOP, f"c-{unlisted}")]


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
    stack.advance(days=1)  # the failed member's retry pass
    assert [m.step for m in messages(member_id)] == ["nudge_1", "nudge_2", "nudge_3"]
    (message,) = [m for m in messages(member_id) if m.coupon_code]
    # the retry asked the shop for the same key; the shop has one code for it
    assert sum(call.count(message.coupon_code) for call in shop.calls) == 2
    assert len(shop.codes) == 2
    # and a pass run again over the shard sends nothing and creates nothing
    calls = len(shop.calls)
    runner = engine.StepRunner(
        channels=ChannelAdapters(email_sender="members@example.com"), now=stack.clock.now()
    )
    result = runner.run("activation-2026-01-05", 2, 0)
    assert result["counts"]["sent"] == 0 and len(shop.calls) == calls


def test_a_refusing_shop_defers_the_member_and_a_later_pass_sends_once(stack, shop):
    refused, accepted = arm_ids("activation", "treatment", 2, "refuse-t")
    for m in (refused, accepted):
        customer_of(stack, m)
    code = engine.coupon_code("activation-2026-01-05", refused, "nudge_3")
    shop.refuse[code] = ShopRefused("Throttled", retryable=True)
    enrol("activation", [refused, accepted])
    _through_activation(stack)
    # the refused member: no message, no coupon, no progress at the step; the other sent
    assert [m.step for m in messages(refused)] == ["nudge_1", "nudge_2"]
    assert enrolment(refused, "activation").steps_reached == ["nudge_1", "nudge_2"]
    with pytest.raises(Coupon.DoesNotExist):
        Coupon.get(code)
    assert [m.step for m in messages(accepted)] == ["nudge_1", "nudge_2", "nudge_3"]
    del shop.refuse[code]  # the shop accepts again
    stack.advance(seconds=incentives.REFUSED_RETRY_SECONDS + 5)
    assert [m.step for m in messages(refused)] == ["nudge_1", "nudge_2", "nudge_3"]
    assert code in shop.codes and Coupon.get(code).shop == SHOP


def test_an_order_with_the_code_redeems_it_and_an_expired_one_is_recorded(stack, shop):
    buyer, late = arm_ids("activation", "treatment", 2, "order-t")
    for m in (buyer, late):
        customer_of(stack, m)
    enrol("activation", [buyer, late])
    _through_activation(stack)
    codes = {m.member_id: m.coupon_code for m in messages() if m.coupon_code}
    now = stack.clock.now()
    buy(buyer, now, "o-1", coupon_codes=(codes[buyer].lower(),))
    coupon = Coupon.get(codes[buyer])
    assert (coupon.redeemed_order_id, coupon.status) == ("o-1", "redeemed")
    assert enrolment(buyer, "activation").status == "converted"
    assert incentives.coupon_status(Coupon.get(codes[late]), now) == "issued"
    after = now + timedelta(days=15)  # the code's 14 days are over
    assert incentives.coupon_status(Coupon.get(codes[late]), after) == "expired"
    buy(late, after, "o-2", coupon_codes=(codes[late],))
    coupon = Coupon.get(codes[late])
    assert (coupon.status, coupon.redeemed_order_id) == ("expired", None)


# ------------------------------------------------------------------ redemptions
def _points(stack, member_id: str, points: int) -> None:
    from memberflow.loyalty import service

    service.post_credit(
        member_id,
        kind="bonus",
        source="test",
        amount=points,
        expires_at=stack.clock.now() + timedelta(days=300),
        now=stack.clock.now(),
    )


def _balance(stack, member_id: str) -> int:
    return stack.http("GET", f"/members/{member_id}").json()["points_balance"]


def test_a_redemption_pays_out_a_code_worth_the_points_and_a_retry_returns_it(stack, shop):
    customer_of(stack, "redeemer")
    _points(stack, "redeemer", 1000)
    before = _balance(stack, "redeemer")
    path = "/members/redeemer/points/redeem"
    first = stack.http("POST", path, body={"points": 550, "reference": "pos-9"})
    assert first.status == 200, first.body
    body = first.json()
    discount = body["discount"]
    assert (body["points"], body["value"], body["balance"]) == (550, "5.50", before - 550)
    code = shop.codes[discount["code"]]
    assert (code.kind, code.value, code.customer_id) == (
        "fixed_amount",
        Decimal("5.50"),
        "c-redeemer",
    )
    assert discount["value"] == "5.50" and discount["shop"] == SHOP and discount["expires_at"]
    again = stack.http("POST", path, body={"points": 550, "reference": "pos-9"})
    assert again.status == 200 and again.json()["discount"] == discount
    assert again.json()["replayed"] is True
    assert _balance(stack, "redeemer") == before - 550 and len(shop.codes) == 1
    entry = LedgerEntry.get("redeemer", "redemption#pos-9")
    assert (entry.points, entry.payout_status) == (-550, "paid")
    # the order that uses it closes the loop
    buy("redeemer", stack.clock.now(), "o-r", coupon_codes=(discount["code"],))
    assert Coupon.get(discount["code"]).redeemed_order_id == "o-r"


def test_a_shop_failure_leaves_the_balance_unchanged_and_the_retry_pays_out(stack, shop):
    customer_of(stack, "unlucky")
    _points(stack, "unlucky", 800)
    before = _balance(stack, "unlucky")
    lots = Member.get("unlucky").points_lots
    path = "/members/unlucky/points/redeem"
    shop.down = ShopRefused("503 Service Unavailable", retryable=True)
    failed = stack.http("POST", path, body={"points": 300, "reference": "r-1"})
    assert failed.status == 503 and failed.headers.get("Retry-After")
    assert failed.json()["error"]["field"] == "shop"
    assert _balance(stack, "unlucky") == before
    assert [(lot.lot_id, lot.remaining) for lot in Member.get("unlucky").points_lots] == [
        (lot.lot_id, lot.remaining) for lot in lots
    ]
    assert LedgerEntry.get("unlucky", "redemption#r-1").points == 0  # reversed
    shop.down = ShopRefused("access denied: write_discounts", retryable=False)
    refused = stack.http("POST", path, body={"points": 300, "reference": "r-1"})
    assert refused.status == 502 and "write_discounts" in refused.json()["error"]["reason"]
    assert _balance(stack, "unlucky") == before
    shop.down = None
    ok = stack.http("POST", path, body={"points": 300, "reference": "r-1"})
    assert ok.status == 200, ok.body
    assert ok.json()["discount"]["value"] == "3.00" and _balance(stack, "unlucky") == before - 300
    assert LedgerEntry.get("unlucky", "redemption#r-1").payout_status == "paid"


def test_a_member_without_a_code_creating_shop_redeems_as_before(stack, shop):
    make_member(stack, "plain", locale="en")
    _points(stack, "plain", 200)
    ok = stack.http("POST", "/members/plain/points/redeem", body={"points": 100, "reference": "x"})
    assert ok.status == 200 and ok.json()["discount"] is None and shop.calls == []
    named = stack.http(
        "POST",
        "/members/plain/points/redeem",
        body={"points": 100, "reference": "y", "shop": SHOP},
    )
    assert named.status == 409 and named.json()["error"]["field"] == "body.shop"
    assert _balance(stack, "plain") == 200
