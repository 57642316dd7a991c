"""The shops that create discount codes, and a member's customer in them: what a journey's
coupon step (memberflow.journeys.incentives) and a points redemption's payout
(memberflow.loyalty.payout) both need to create a code in the member's own shop.

Plain configuration and the adapters' interface (memberflow.shops); the callers pass in
the programme's sources and the adapters (``AppContext.discount_shops``), so this module
reads no settings of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from memberflow.members.identity import identity_key
from memberflow.shops import DiscountCode, DiscountShop, ShopRefused
from memberflow.store import Coupon, Member

log = logging.getLogger("memberflow.shops")

PLATFORMS = ("shopify", "woocommerce")
# A coupon's states (Coupon.status): an issued code, used by an order, or past its end.
ISSUED, REDEEMED, EXPIRED = "issued", "redeemed", "expired"


def source_name(platform: str, entry: Mapping) -> str:
    """The source's canonical name: the key of the adapters and of identity records."""
    from memberflow.webhooks.secrets import canonical_name

    return canonical_name(platform, entry["shop"] if platform == "shopify" else entry["site"])


def creating_sources(sources: Mapping) -> dict[tuple[str, str], dict]:
    """``(platform, lower-cased source name) -> discounts config`` of the shops that
    create codes (``discounts.create: true``), in configuration order."""
    from memberflow.shops.factory import creating_sources as creating

    return {
        (platform, source_name(platform, entry).lower()): dict(entry["discounts"])
        for platform, _index, entry in creating(sources)
    }


@dataclass(frozen=True)
class ShopCustomer:
    platform: str
    shop: str  # the source's name as configured (the adapters' key)
    customer_id: str
    identity_key: str
    discounts: dict  # the shop's discounts configuration (title, ...)


class CodeShops:
    """The shops that create codes, with their adapters; ``None`` from :meth:`load`
    when no shop does (every coupon keeps the old behaviour, nothing is loaded)."""

    def __init__(self, creating: dict[tuple[str, str], dict], adapters: Mapping[str, DiscountShop]):
        self.creating = creating
        self.adapters = {name.lower(): shop for name, shop in adapters.items()}
        self.names = {}
        for name in adapters:
            self.names[name.lower()] = name

    @classmethod
    def load(
        cls, sources: Mapping, discount_shops: Callable[..., Mapping[str, DiscountShop]], **retry
    ) -> CodeShops | None:
        """``sources``: the programme's; ``discount_shops``: the adapters by source name
        (``AppContext.discount_shops``), called only when a source creates codes, with
        ``retry``, the ``attempts``/``max_wait`` of each shop request's retries (the
        adapters' defaults fit a journey step)."""
        creating = creating_sources(sources)
        if not creating:
            return None
        try:
            adapters = discount_shops(**retry) or {}
        except Exception as error:  # noqa: BLE001 - e.g. credentials missing from the secret
            # Every code of these shops is refused (not retryable: the member's failure
            # path retries with backoff, then fails it), never sent without its code.
            log.error("discount shops unavailable", extra={"error": str(error)[:300]})
            adapters = {}
        return cls(creating, adapters)

    def adapter(self, shop: str) -> DiscountShop:
        try:
            return self.adapters[shop.lower()]
        except KeyError:
            raise ShopRefused(
                f"no discount adapter for {shop} (its credentials?)", retryable=False
            ) from None

    def customers(self, keys: Iterable[str]) -> list[ShopCustomer]:
        """The member's customers in the shops that create codes, in configuration
        order; ``keys``: the member's identity keys."""
        known = {}
        for key in keys:
            platform, shop, customer_id = _split(key)
            if platform is not None:
                known.setdefault((platform, shop), (customer_id, key))
        found = []
        for (platform, shop), discounts in self.creating.items():
            if (platform, shop) in known:
                customer_id, key = known[(platform, shop)]
                name = self.names.get(shop, shop)
                found.append(ShopCustomer(platform, name, customer_id, key, discounts))
        return found

    def customer(self, member: Member, keys: Iterable[str]) -> ShopCustomer | None:
        """The member's customer in the first shop (configuration order) that creates
        codes and knows the member."""
        found = self.customers(keys)
        return found[0] if found else None

    def identity_keys(self, member: Member) -> tuple[list[str], bool]:
        """The member's identity keys, and whether they were read from the index (the
        member item had no list of them)."""
        if member.shop_identities is not None:
            return list(member.shop_identities), False
        from memberflow.store.identities import identities_of

        keys = sorted(
            identity_key(r.platform, r.shop, r.customer_id)
            for r in identities_of(member.member_id)
            if r.customer_id
        )
        return keys, True

    def find_customer(self, member: Member) -> tuple[ShopCustomer | None, list[str] | None]:
        """(customer, identity keys read from the index when the member item has no list
        of them: to write onto the member with the claim; ``None`` when not read). The
        list, when there, is every identity the member has (each link is written with
        it, a link that cannot add to it drops it)."""
        keys, read = self.identity_keys(member)
        return self.customer(member, keys), (keys if read else None)


def _split(key: str) -> tuple[str | None, str, str]:
    parts = key.split("#", 2)
    if len(parts) != 3 or parts[0] not in PLATFORMS:
        return None, "", ""
    return parts[0], parts[1].lower(), parts[2]


def discount_code(
    coupon: Coupon, customer: ShopCustomer, member: Member, *, kind: str, value: Decimal
) -> DiscountCode:
    return DiscountCode(
        key=coupon.code,
        code=coupon.code,
        kind=kind,  # type: ignore[arg-type]
        value=value,
        starts_at=coupon.issued_at,
        ends_at=coupon.expires_at,
        customer_id=customer.customer_id,
        email=member.email,
        title=customer.discounts.get("title") or "",
    )
