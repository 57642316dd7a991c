"""journeys.incentives without a stack: which shop and customer a member's code goes to,
the chunks created per shop, and how refusals reach each member (a fake DiscountShop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from memberflow.journeys import incentives
from memberflow.shops import CreatedCode, Creation, ShopRefused
from memberflow.store import Coupon, Enrolment, Member

NOW = datetime(2026, 3, 1, 10, tzinfo=UTC)
SHOPIFY = "a.myshopify.com"
WOO = "https://b.example.com/"
STEP = {"id": "offer", "incentive": {"type": "coupon", "percent_off": 20, "valid_days": 30}}


class Fake:
    def __init__(self, name, refuse_all: ShopRefused | None = None, refuse=()):
        self.shop, self.platform = name, "x"
        self.calls: list[list[str]] = []
        self.refuse_all, self.refuse = refuse_all, set(refuse)
        self.held: dict = {}

    def create_codes(self, codes):
        self.calls.append([c.key for c in codes])
        if self.refuse_all:
            raise self.refuse_all
        created, refused = {}, {}
        for code in codes:
            if code.key in self.refuse:
                refused[code.key] = ShopRefused("TAKEN by another", retryable=False, field="code")
            else:
                self.held.setdefault(code.key, code)
                created[code.key] = CreatedCode(code.key, code.code, f"id-{code.key}")
        return Creation(created, refused)


def _member(member_id: str, keys: list[str] | None) -> Member:
    return Member(member_id=member_id, email=f"{member_id}@example.com", shop_identities=keys)


def _coupon(member: Member) -> Coupon:
    return Coupon(
        code=f"MF{member.member_id.upper()}",
        member_id=member.member_id,
        journey="winback",
        cohort_id="c1",
        step="offer",
        percent_off=Decimal(20),
        issued_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )


def _shops(adapters) -> incentives.CodeShops:
    creating = {
        ("shopify", SHOPIFY): {"create": True, "title": "Win-back"},
        ("woocommerce", WOO): {"create": True},
    }
    return incentives.CodeShops(creating, adapters)


def _codes(shops, members):
    enrolments = [Enrolment(member_id=m.member_id, enrolment_key="winback#c1") for m in members]
    return incentives.ShardCodes(
        shops,
        cohort_id="c1",
        step=STEP,
        enrolments=enrolments,
        members={m.member_id: m for m in members},
        now=NOW,
        coupon_for=_coupon,
        may_send=lambda _e, _m: True,
    )


def test_each_member_s_code_goes_to_its_own_shop_in_one_call_per_shop_and_chunk():
    a, b = Fake(SHOPIFY), Fake(WOO)
    members = [
        _member("m1", [f"shopify#{SHOPIFY}#11"]),
        _member("m2", [f"woocommerce#{WOO}#22"]),
        _member("m3", []),  # no identity in a shop that creates codes
        _member("m4", [f"woocommerce#{WOO}#44", f"shopify#{SHOPIFY}#41"]),
    ]
    codes = _codes(_shops({SHOPIFY: a, WOO: b}), members)
    first = _coupon(members[0])
    prepared = codes.ensure(members[0], first)
    # the first member's call made the chunk: one call per shop, none for m3
    assert a.calls == [["MFM1", "MFM4"]] and b.calls == [["MFM2"]]
    assert (first.shop, first.shop_discount_id) == (SHOPIFY, "id-MFM1")
    assert prepared.customer.customer_id == "11" and prepared.identities is None
    held = a.held["MFM1"]
    assert (held.kind, held.value, held.customer_id, held.title) == (
        "percentage",
        Decimal(20),
        "11",
        "Win-back",
    )
    assert held.ends_at == NOW + timedelta(days=30) and held.email == "m1@example.com"
    for member in members[1:]:
        coupon = _coupon(member)
        codes.ensure(member, coupon)
    assert a.calls == [["MFM1", "MFM4"]] and b.calls == [["MFM2"]]  # nothing asked twice
    # configuration order decides for a member of both shops; no shop: no code
    assert a.held["MFM4"].customer_id == "41"
    assert codes.prepared["m3"].customer is None and codes.prepared["m3"].created is None


def test_a_shop_that_refuses_refuses_only_its_own_members():
    down = ShopRefused("503 Service Unavailable", retryable=True)
    a, b = Fake(SHOPIFY, refuse_all=down), Fake(WOO, refuse={"MFM3"})
    members = [
        _member("m1", [f"shopify#{SHOPIFY}#11"]),
        _member("m2", [f"woocommerce#{WOO}#22"]),
        _member("m3", [f"woocommerce#{WOO}#33"]),
    ]
    codes = _codes(_shops({SHOPIFY: a, WOO: b}), members)
    with pytest.raises(ShopRefused) as refused:
        codes.ensure(members[0], _coupon(members[0]))
    assert refused.value.retryable
    coupon = _coupon(members[1])
    codes.ensure(members[1], coupon)
    assert coupon.shop == WOO
    with pytest.raises(ShopRefused) as refused:
        codes.ensure(members[2], _coupon(members[2]))
    assert not refused.value.retryable and refused.value.field == "code"
    # a refused member is not asked for again within the pass (the next pass does)
    with pytest.raises(ShopRefused):
        codes.ensure(members[0], _coupon(members[0]))
    assert len(a.calls) == 1


def test_a_shop_without_an_adapter_refuses_for_good():
    members = [_member("m1", [f"shopify#{SHOPIFY}#11"])]
    codes = _codes(_shops({}), members)  # e.g. its credentials are missing
    with pytest.raises(ShopRefused) as refused:
        codes.ensure(members[0], _coupon(members[0]))
    assert not refused.value.retryable


def test_coupon_status_from_the_record_and_the_dates():
    coupon = _coupon(_member("m1", []))
    assert incentives.coupon_status(coupon, NOW) == "issued"
    assert incentives.coupon_status(coupon, NOW + timedelta(days=31)) == "expired"
    coupon.redeemed_order_id = "o-1"
    assert incentives.coupon_status(coupon, NOW + timedelta(days=31)) == "redeemed"
