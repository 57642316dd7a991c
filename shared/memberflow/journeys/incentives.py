"""Journey coupons as real discount codes in the member's shop (issue 14).

A coupon step renders a code in its message; when the member's shop is configured to
create codes (``sources.<platform>[].discounts.create``), the code is created there
*before* the claim and the send (memberflow.journeys.engine.StepRunner._send):

* a message never carries a code the shop does not know;
* creation is idempotent on memberflow's coupon key (the code itself, derived from
  cohort, member and step): a retried step or a re-run pass creates nothing twice;
* a refusal (``ShopRefused``) defers that member only: nothing of the member is written
  (no claim, no coupon item, no send), and a later pass tries again;
* a shard's codes are created per shop in batches (the adapters' bulk calls), for the
  members the pass is about to send to, a chunk at a time, so a pass that runs out of
  time has not created codes far ahead of its sends.

Members whose shop does not create codes, or who have no identity in such a shop, keep
the old behaviour: the code is only rendered in the message.

The member's customer id in the shop comes from its identity links; the member item
carries their keys (``Member.shop_identities``, written with the identity at sign-up),
so the common case needs no read of its own. A member without a matching key there
(linked before the field existed, or by an order) is looked up in the identities index
(one Query), and the claim writes what it found onto the member.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from memberflow.members.identity import identity_key
from memberflow.shops import CreatedCode, DiscountCode, DiscountShop, ShopRefused
from memberflow.shops.codes import (  # noqa: F401 (the journeys' and their tests' names)
    EXPIRED,
    ISSUED,
    PLATFORMS,
    REDEEMED,
    CodeShops,
    ShopCustomer,
    creating_sources,
    discount_code,
    source_name,
)
from memberflow.store import Coupon, Enrolment, Member

log = logging.getLogger("memberflow.journeys")

# Codes created ahead in one call per shop (WooCommerce's batch endpoint takes 100;
# Shopify takes one mutation a code). Small: a shard's sends are paced (0.35 a second
# at SES's default quota over 40 shards), so 20 codes are about a minute of sends, and a
# chunk of throttled Shopify mutations must fit in the invocation's safety margin.
CODES_PER_BATCH = 20
# A retryable refusal (throttle, outage) defers the member this long.
REFUSED_RETRY_SECONDS = 60


# ------------------------------------------------------------------ configuration
def _configured_shops(**retry_budget) -> Mapping[str, DiscountShop]:
    from memberflow.runtime import app_context

    return app_context().discount_shops(**retry_budget)


def _configured_sources() -> Mapping:
    from memberflow.runtime import app_context

    return app_context().programme.sources


# Seams: the shops (source name -> adapter) and the programme's sources. Tests replace
# them (a fake DiscountShop); deployed, both come from the app context.
shops_provider: Callable[..., Mapping[str, DiscountShop]] = _configured_shops
sources_provider: Callable[[], Mapping] = _configured_sources


def remember_identity(member: Member, platform: str, shop: str | None, customer_id: str) -> None:
    """Add the identity's key to the member's list (written with the link). A member
    without the list (written before it existed, or after a link elsewhere dropped it)
    keeps none: a partial list would hide its other shops."""
    if member.shop_identities is None:
        return
    key = identity_key(platform, shop, customer_id)
    if key not in member.shop_identities:
        member.shop_identities = sorted([*member.shop_identities, key])


@dataclass
class Prepared:
    """One member's code, as the shop answered."""

    customer: ShopCustomer | None  # None: no shop creates codes for this member
    created: CreatedCode | None = None
    refused: ShopRefused | None = None
    identities: list[str] | None = None  # read from the index: for the claim to write


class ShardCodes:
    """The codes of one shard's pass at a coupon step, created a chunk at a time.

    ``ensure`` is called for each member right before its claim; the first member of a
    chunk also creates the codes of the next members the pass will send to (open,
    treated, not past the step, goal not met), grouped per shop, one bulk call each."""

    def __init__(
        self,
        shops: CodeShops,
        *,
        cohort_id: str,
        step: dict,
        enrolments: Sequence[Enrolment],
        members: Mapping[str, Member],
        now: datetime,
        coupon_for: Callable[[Member], Coupon],
        may_send: Callable[[Enrolment, Member], bool],
    ):
        self.shops = shops
        self.cohort_id = cohort_id
        self.step = step
        self.enrolments = list(enrolments)
        self.members = members
        self.now = now
        self.coupon_for = coupon_for
        self.may_send = may_send
        self.prepared: dict[str, Prepared] = {}
        self.position = 0
        self.shop_calls = 0  # bulk create calls made (each one HTTP request or more)

    def ensure(self, member: Member, coupon: Coupon) -> Prepared:
        """The member's code in its shop (created now with the next chunk if need be).
        Raises ``ShopRefused`` when the shop did not create it."""
        prepared = self.prepared.get(member.member_id)
        if prepared is None:
            self._create_chunk(member, coupon)
            prepared = self.prepared[member.member_id]
        if prepared.refused is not None:
            raise prepared.refused
        if prepared.created is not None:
            coupon.shop = prepared.customer.shop
            coupon.shop_discount_id = prepared.created.shop_discount_id
        return prepared

    def _chunk(self, first: Member, first_coupon: Coupon) -> list[tuple[Member, Coupon]]:
        chunk = [(first, first_coupon)]
        ids = [e.member_id for e in self.enrolments]
        try:
            self.position = max(self.position, ids.index(first.member_id) + 1)
        except ValueError:
            pass
        while len(chunk) < CODES_PER_BATCH and self.position < len(self.enrolments):
            enrolment = self.enrolments[self.position]
            self.position += 1
            member = self.members.get(enrolment.member_id)
            if member is None or member.member_id == first.member_id:
                continue
            if member.member_id in self.prepared or not self.may_send(enrolment, member):
                continue
            chunk.append((member, self.coupon_for(member)))
        return chunk

    def _create_chunk(self, first: Member, first_coupon: Coupon) -> None:
        by_shop: dict[str, list[tuple[Member, DiscountCode]]] = {}
        for member, coupon in self._chunk(first, first_coupon):
            customer, identities = self.shops.find_customer(member)
            prepared = Prepared(customer=customer, identities=identities)
            self.prepared[member.member_id] = prepared
            if customer is None:
                continue
            code = discount_code(
                coupon,
                customer,
                member,
                kind="percentage",
                value=Decimal(str(self.step["incentive"]["percent_off"])),
            )
            by_shop.setdefault(customer.shop, []).append((member, code))
        for shop, wanted in by_shop.items():
            self._create(shop, wanted)

    def _create(self, shop: str, wanted: list[tuple[Member, DiscountCode]]) -> None:
        try:
            self.shop_calls += 1
            creation = self.shops.adapter(shop).create_codes([code for _, code in wanted])
            created, refused = creation.created, creation.refused
        except ShopRefused as whole:  # the call as a whole: every code of it refused
            created, refused = {}, {code.key: whole for _, code in wanted}
        for member, code in wanted:
            prepared = self.prepared[member.member_id]
            if code.key in created:
                prepared.created = created[code.key]
            else:
                prepared.refused = refused.get(code.key) or ShopRefused(
                    "the shop did not report the code", retryable=True
                )
                log.warning(
                    "discount code refused",
                    extra={
                        "cohort_id": self.cohort_id,
                        "member_id": member.member_id,
                        "step": self.step["id"],
                        "shop": shop,
                        "retryable": prepared.refused.retryable,
                        "field": prepared.refused.field,
                    },
                )


def for_step(
    *,
    cohort_id: str,
    step: dict,
    enrolments: Sequence[Enrolment],
    members: Mapping[str, Member],
    now: datetime,
    coupon_for: Callable[[Member], Coupon],
    may_send: Callable[[Enrolment, Member], bool],
) -> ShardCodes | None:
    """The shard's code creator for a coupon step, or ``None`` (no coupon in the step,
    or no shop creates codes: the old behaviour, nothing read)."""
    if (step.get("incentive") or {}).get("type") != "coupon":
        return None
    shops = CodeShops.load(sources_provider() or {}, shops_provider)
    if shops is None:
        return None
    return ShardCodes(
        shops,
        cohort_id=cohort_id,
        step=step,
        enrolments=enrolments,
        members=members,
        now=now,
        coupon_for=coupon_for,
        may_send=may_send,
    )


# ------------------------------------------------------------------ the coupon's state


def coupon_status(coupon: Coupon, now: datetime) -> str:
    """redeemed (an order used it) | expired (unused past its end) | issued. Coupons
    written before the status was recorded, and expired ones nobody has read since,
    get theirs from the dates: the stored ``expired`` is a record, never the only source."""
    if coupon.redeemed_order_id:
        return REDEEMED
    if coupon.status == EXPIRED or now > coupon.expires_at:
        return EXPIRED
    return ISSUED


def record_expired(coupon: Coupon) -> bool:
    """Record an unused coupon found past its end as ``expired`` (one conditional
    UpdateItem; nothing when an order redeemed it meanwhile or it is recorded already)."""
    from memberflow.store.errors import UpdateError

    if coupon.status == EXPIRED or coupon.redeemed_order_id:
        return False
    try:
        coupon.update(
            actions=[Coupon.status.set(EXPIRED)],
            condition=Coupon.redeemed_order_id.does_not_exist(),
        )
        return True
    except UpdateError:
        return False
