"""A points redemption that pays out: a fixed-amount discount code in the member's shop.

``POST /members/{id}/points/redeem`` takes the points and, when the member has a shop
that creates codes (``sources.<platform>[].discounts.create``), creates a code worth the
redeemed value there (100 points = 1 currency unit by default) and returns it. Never
half done:

1. The points are taken in the loyalty engine's one transaction, with the redemption's
   ledger entry marked ``pending`` (its payout: shop, code, value, expiry, and the lots
   the points came from).
2. The code is created in the shop, idempotent on memberflow's key (the code itself,
   derived from member and reference).
3. Created: the entry turns ``paid`` with the coupon item (what an order using the code
   finds), in one transaction. Refused or unreachable: the points go back to the very
   lots they came from and the entry turns ``reversed`` (its points 0), in the engine's
   transaction; the client gets 502/503 naming the reason and may retry.

A retry with the same reference returns the same code and takes nothing more: a paid
entry is answered as it is; a pending one (a crash between 1 and 3) creates the code
(the shop answers with the one it has) and completes; a reversed one takes the points
again. The code exists in the shop only while points are taken for it, except in one
race that needs two concurrent requests with one reference, one refused and one
accepted by the shop: then the accepted one takes the points again (step 1) before it
answers, and fails as any redemption short of points would.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from memberflow.clock import iso
from memberflow.config.programme import Programme
from memberflow.loyalty import accounts, lots, service
from memberflow.loyalty import points as rules
from memberflow.shops import DiscountCode, DiscountShop, ShopRefused, codes
from memberflow.store import ledger
from memberflow.store.models import Coupon, LedgerEntry, Member

PENDING, PAID, REVERSED = "pending", "paid", "reversed"
# The shop call's retries inside the member API: API Gateway gives up after 29 s, and
# each try may take the adapter's timeouts (3 s connect, 10 s read).
API_RETRY_BUDGET = {"attempts": 2, "max_wait": 2.0}
DEFAULT_CODE_VALID_DAYS = 365
REDEMPTION = "redemption"  # Coupon.journey of a redemption's code


class ShopChoice(ValueError):
    """The request's shop cannot be used: ``field`` and ``status`` for the API."""

    def __init__(self, field: str, reason: str, status: int = 400):
        super().__init__(reason)
        self.field, self.reason, self.status = field, reason, status


class PayoutFailed(Exception):
    """The shop did not create the code; the points were given back."""

    def __init__(self, shop: str, refused: ShopRefused):
        super().__init__(refused.reason)
        self.shop = shop
        self.reason = refused.reason
        self.retryable = refused.retryable
        self.field = refused.field


@dataclass(frozen=True)
class Target:
    shops: codes.CodeShops
    customer: codes.ShopCustomer


def redemption_code(member_id: str, reference: str) -> str:
    digest = hashlib.sha256(f"redemption|{member_id}|{reference}".encode()).digest()
    return "MFR" + base64.b32encode(digest).decode()[:10]


def choose_shop(
    member: Member,
    requested: str | None,
    *,
    sources: Mapping,
    discount_shops: Callable[..., Mapping[str, DiscountShop]],
) -> Target | None:
    """Where the code goes: the shop the request names, else the member's only shop that
    creates codes; ``None`` (no code: the points are taken as before) when the member
    has no identity in such a shop and none was named. ``sources`` and
    ``discount_shops``: the programme's sources and their adapters (the handler's
    ``AppContext``)."""
    shops = codes.CodeShops.load(sources, discount_shops, **API_RETRY_BUDGET)
    if shops is None:
        if requested:
            raise ShopChoice("body.shop", "no shop creates discount codes (discounts.create)")
        return None
    keys, _ = shops.identity_keys(member)
    customers = shops.customers(keys)
    if requested:
        wanted = requested.strip().lower()
        for customer in customers:
            if customer.shop.lower() in (wanted, wanted.rstrip("/") + "/"):
                return Target(shops, customer)
        if not any(
            shop == wanted or shop == wanted.rstrip("/") + "/" for _, shop in shops.creating
        ):
            raise ShopChoice("body.shop", "not a shop that creates discount codes")
        raise ShopChoice("body.shop", "the member has no customer account in that shop", 409)
    if not customers:
        return None
    if len(customers) > 1:
        names = ", ".join(c.shop for c in customers)
        raise ShopChoice(
            "body.shop", f"required: the member is a customer of several shops ({names})"
        )
    return Target(shops, customers[0])


def _view(entry: LedgerEntry, balance: int, programme: Programme, replayed: bool) -> dict:
    payout = json.loads(entry.payout)
    return {
        **service.redemption_view(entry, balance, programme),
        "discount": {
            "code": payout["code"],
            "shop": payout["shop"],
            "kind": "fixed_amount",
            "value": payout["value"],
            "expires_at": payout["expires_at"],
        },
        "replayed": replayed,
    }


def _taken(before: list, after: list) -> list[list]:
    """The lots the points came from: ``[[lot_id, expires_at, points], ...]``."""
    left = {lot.lot_id: int(lot.remaining) for lot in after}
    out = []
    for lot in before:
        took = int(lot.remaining) - left.get(lot.lot_id, 0)
        if took > 0:
            out.append([lot.lot_id, lot.expires_at.isoformat(), took])
    return out


def _take(member_id, points_wanted, reference, programme, now, target) -> tuple[dict, bool]:
    """Step 1: the points, with the entry ``pending``. Returns (the entry's view data,
    whether the code still has to be created)."""
    key = f"{REDEMPTION}#{reference}"
    code = redemption_code(member_id, reference)

    def plan(current: Member, _order) -> service.Change:
        done = ledger.entry(member_id, key)
        if done is not None and done.payout_status != REVERSED:
            if -int(done.points) != points_wanted:
                raise service.RedemptionConflict(
                    f"reference already used for {-int(done.points)} points"
                )
            return service.Change(result=(done, int(current.points_balance or 0), True))
        before = list(current.points_lots or [])
        lots.redeem(current, points_wanted, now)
        entry = accounts.ledger_entry(current, REDEMPTION, reference, -points_wanted, now)
        valid_days = programme.points["redemption"].get("code_valid_days", DEFAULT_CODE_VALID_DAYS)
        entry.payout_status = PENDING
        entry.payout = json.dumps(
            {
                "shop": target.customer.shop,
                "platform": target.customer.platform,
                "code": code,
                "value": format(rules.redemption_value(points_wanted, programme), "f"),
                "expires_at": iso(now + timedelta(days=valid_days)),
                "taken": _taken(before, list(current.points_lots or [])),
            },
            separators=(",", ":"),
        )
        accounts.refresh_review(current, programme, now)
        change = service.Change(member=current, result=(entry, int(current.points_balance), False))
        if done is None:
            change.entries = [entry]
        else:  # a reversed attempt of this reference: taken again, in its place
            change.puts = [ledger.replacing(entry, REVERSED)]
        return change

    return service.run(member_id, plan)


def _give_back(member_id: str, reference: str, programme: Programme, now: datetime) -> bool:
    """Reverse a pending redemption: the points back into the lots they came from (a debt
    that arose meanwhile is paid first, as any credit), the entry ``reversed``."""
    key = f"{REDEMPTION}#{reference}"

    def plan(current: Member, _order) -> service.Change | None:
        entry = ledger.entry(member_id, key)
        if entry is None:
            return None
        if entry.payout_status != PENDING:
            return None  # paid by a concurrent request, or reversed already
        for _lot_id, expires_at, took in json.loads(entry.payout)["taken"]:
            lots.credit(current, int(took), datetime.fromisoformat(expires_at))
        accounts.refresh_review(current, programme, now)
        entry.points = 0
        entry.payout_status = REVERSED
        return service.Change(member=current, puts=[ledger.replacing(entry, PENDING)], result=True)

    return bool(service.run(member_id, plan))


def _mark_paid(entry: LedgerEntry, coupon: Coupon) -> bool:
    """Step 3: the entry paid and the coupon item, together; ``False`` when the entry is
    no longer pending (reversed by a concurrent request)."""
    return ledger.settle_payout(entry, coupon, was=PENDING, now_status=PAID)


def redeem(
    member_id: str,
    points: int,
    reference: str,
    *,
    programme: Programme,
    now: datetime,
    target: Target,
    member: Member | None = None,
) -> dict:
    """Take the points and pay them out as a code in ``target``'s shop (module doc).

    Raises :class:`PayoutFailed` (the points given back) when the shop refuses,
    besides what :func:`memberflow.loyalty.service.redeem` raises."""
    for _attempt in range(2):
        entry, balance, replayed = _take(member_id, points, reference, programme, now, target)
        if entry.payout is None:  # redeemed before payouts existed: answered as then
            return service.redeem(member_id, points, reference, programme=programme, now=now)
        if entry.payout_status == PAID:
            return _view(entry, balance, programme, replayed)
        payout = json.loads(entry.payout)
        # the member as the caller read it: its e-mail (WooCommerce's restriction) and
        # identities do not change with the points
        member = member or service.get_member(member_id)
        customer = target.customer
        if payout["shop"].lower() != customer.shop.lower():
            # pending in the shop the first request chose: finished there
            keys, _ = target.shops.identity_keys(member)
            same = [
                c for c in target.shops.customers(keys) if c.shop.lower() == payout["shop"].lower()
            ]
            if not same:
                raise ShopChoice("body.shop", "this reference is paid out in another shop", 409)
            customer = same[0]
        coupon = Coupon(
            code=payout["code"],
            member_id=member_id,
            journey=REDEMPTION,
            cohort_id=f"{REDEMPTION}#{reference}",
            step=REDEMPTION,
            percent_off=Decimal(0),
            amount_off=Decimal(payout["value"]),
            issued_at=entry.created_at,
            expires_at=datetime.fromisoformat(payout["expires_at"]),
            status=codes.ISSUED,
            shop=customer.shop,
        )
        code = codes.discount_code(
            coupon, customer, member, kind="fixed_amount", value=coupon.amount_off
        )
        try:
            created = _create(target.shops, customer.shop, code)
        except ShopRefused as refused:
            _give_back(member_id, reference, programme, now)
            raise PayoutFailed(customer.shop, refused) from None
        coupon.shop_discount_id = created.shop_discount_id
        if _mark_paid(entry, coupon):
            return _view(entry, balance, programme, replayed)
        # reversed meanwhile by a concurrent request whose shop call failed: take the
        # points again for the code that now exists (the loop's second round)
    raise service.ConcurrencyExhausted(f"redemption {reference}: kept being reversed")


def _create(shops: codes.CodeShops, shop: str, code: DiscountCode):
    try:
        creation = shops.adapter(shop).create_codes([code])
    except ShopRefused:
        raise
    except Exception as error:  # noqa: BLE001 - an adapter's unexpected failure: an outage
        raise ShopRefused(
            f"the shop call failed ({type(error).__name__})", retryable=True
        ) from None
    if code.key in creation.created:
        return creation.created[code.key]
    raise creation.refused.get(code.key) or ShopRefused(
        "the shop did not report the code", retryable=True
    )
