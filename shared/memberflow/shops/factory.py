"""The configured shops memberflow creates codes in, with their credentials.

``discount_shops(programme, credentials)`` builds one adapter per source whose
``discounts.create`` is true, keyed by the source's canonical name (the Shopify shop
domain, the WooCommerce site URL as ``sources`` compares it): the same key the order
and identity records carry. Sources without ``discounts.create`` are absent: their
codes are only rendered in messages (today's behaviour).

The credentials are one Secrets Manager secret (``ShopCredentialsSecretName``) holding
a JSON map: a Shopify source's ``discounts.token`` names a key whose value is the Admin
API access token; a WooCommerce source's ``discounts.credentials`` names a key whose
value is ``{"consumer_key": ..., "consumer_secret": ...}``. A missing or malformed
entry is a :class:`ShopConfigError` naming the configuration field.

The development values are public (they are in this file): never deploy them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from memberflow.shops import DiscountShop
from memberflow.shops.shopify import ShopifyDiscounts
from memberflow.shops.transport import Backoff
from memberflow.shops.woocommerce import WooCommerceDiscounts
from memberflow.webhooks.secrets import canonical_name, canonical_site

DEFAULT_API_VERSION = "2025-10"
# the oldest version whose DiscountCodeBasicInput has `context` (what memberflow sends)
OLDEST_API_VERSION = "2025-10"
DEFAULT_TITLE = "memberflow"

DEV_SHOPIFY_ADMIN_TOKEN = "shpat_memberflow_local_dev"
DEV_WOOCOMMERCE_KEYS = {
    "consumer_key": "ck_memberflow_local_dev",
    "consumer_secret": "cs_memberflow_local_dev",
}


class ShopConfigError(ValueError):
    """A shop's discount configuration or credentials are unusable; ``field`` is the path."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def creating_sources(sources: Mapping[str, Any] | None) -> list[tuple[str, int, dict]]:
    """``(platform, index, entry)`` of every source with ``discounts.create`` true."""
    out = []
    for platform in ("shopify", "woocommerce"):
        for i, entry in enumerate((sources or {}).get(platform) or []):
            if (entry.get("discounts") or {}).get("create"):
                out.append((platform, i, entry))
    return out


def local_endpoint(base: str, platform: str, name: str, api_version: str = "") -> str:
    """The URL of a shop's API on the local stack's shops endpoint at ``base``
    (``memberflow_local.shops``), standing in for the platform's own."""
    root = base.rstrip("/")
    if platform == "shopify":
        return (
            f"{root}/shopify/{canonical_name('shopify', name)}/admin/api/{api_version}/graphql.json"
        )
    site = canonical_site(name).split("://", 1)[-1]
    return f"{root}/woocommerce/{site}wp-json/wc/v3/"


def discount_shops(
    programme: Any,
    credentials: Mapping[str, Any],
    *,
    endpoint: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 5,
    max_wait: float = 10.0,
) -> dict[str, DiscountShop]:
    """The shops to create codes in, keyed by source name (canonical).

    ``programme``: a :class:`memberflow.config.Programme` (or its ``sources`` section);
    ``credentials``: the shop-credentials secret's JSON map; ``endpoint``: the local
    stack's shops endpoint (settings ``MEMBERFLOW_LOCAL_SHOPS_URL``), never set in AWS;
    ``sleep``: how retries wait (tests pass one that does not); ``attempts`` and
    ``max_wait`` bound the retries of one request (tries in all, seconds per wait): a
    caller inside API Gateway's 29 s (the member API) passes a smaller budget than the
    journey step (5 minutes)."""
    if attempts < 1 or max_wait < 0:
        raise ValueError("attempts must be >= 1 and max_wait >= 0")
    sources = programme.sources if hasattr(programme, "sources") else programme
    shops: dict[str, DiscountShop] = {}
    for platform, i, entry in creating_sources(sources):
        path = f"$.sources.{platform}[{i}].discounts"
        discounts = entry["discounts"]
        title = discounts.get("title") or DEFAULT_TITLE
        backoff = Backoff(attempts=attempts, cap=max_wait, sleep=sleep)
        if platform == "shopify":
            name = canonical_name("shopify", entry["shop"])
            version = discounts.get("api_version") or DEFAULT_API_VERSION
            if version < OLDEST_API_VERSION:
                raise ShopConfigError(
                    f"{path}.api_version", f"must be {OLDEST_API_VERSION} or later"
                )
            ref = discounts.get("token")
            token = credentials.get(ref) if ref else None
            if not isinstance(token, str) or not token.strip():
                raise ShopConfigError(
                    f"{path}.token", f"the shop-credentials secret has no access token {ref!r}"
                )
            shops[name] = ShopifyDiscounts(
                name,
                token=token.strip(),
                api_version=version,
                title=title,
                combines_with=discounts.get("combines_with"),
                endpoint=local_endpoint(endpoint, "shopify", name, version) if endpoint else None,
                backoff=backoff,
            )
        else:
            name = canonical_name("woocommerce", entry["site"])
            if not name.startswith("https://") and not endpoint:
                raise ShopConfigError(
                    f"$.sources.woocommerce[{i}].site",
                    "creating coupons needs an https:// site (WooCommerce takes REST keys over HTTPS only)",
                )
            ref = discounts.get("credentials")
            pair = credentials.get(ref) if ref else None
            if not (
                isinstance(pair, Mapping)
                and all(
                    isinstance(pair.get(k), str) and pair[k].strip()
                    for k in ("consumer_key", "consumer_secret")
                )
            ):
                raise ShopConfigError(
                    f"{path}.credentials",
                    f"the shop-credentials secret has no {{consumer_key, consumer_secret}} at {ref!r}",
                )
            shops[name] = WooCommerceDiscounts(
                name,
                consumer_key=pair["consumer_key"].strip(),
                consumer_secret=pair["consumer_secret"].strip(),
                title=title,
                individual_use=bool(discounts.get("individual_use", True)),
                endpoint=local_endpoint(endpoint, "woocommerce", name) if endpoint else None,
                backoff=backoff,
            )
    return shops


def dev_credential(platform: str, ref: str) -> Any:
    """Development credentials for a key of the map: public, for the local stack only."""
    if platform == "shopify":
        if ref == "shopify-admin":
            return DEV_SHOPIFY_ADMIN_TOKEN
        seed = hashlib.sha256(f"memberflow-local-shopify-admin-{ref}".encode()).hexdigest()
        return f"shpat_{seed[:32]}"
    if ref == "woocommerce-rest":
        return dict(DEV_WOOCOMMERCE_KEYS)
    seed = hashlib.sha256(f"memberflow-local-woocommerce-rest-{ref}".encode()).hexdigest()
    return {"consumer_key": f"ck_{seed[:40]}", "consumer_secret": f"cs_{seed[24:64]}"}


def dev_credentials_map(sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """The development shop-credentials map: every key the sources' ``discounts`` name
    (whether or not they create codes, so that switching ``create`` on needs nothing else)."""
    out: dict[str, Any] = {}
    for platform, field in (("shopify", "token"), ("woocommerce", "credentials")):
        for entry in (sources or {}).get(platform) or []:
            ref = (entry.get("discounts") or {}).get(field)
            if ref:
                out.setdefault(ref, dev_credential(platform, ref))
    return out


def load_credentials(secret_name: str) -> dict[str, Any]:
    """The shop-credentials map from Secrets Manager (Powertools Parameters, cached 5
    minutes, as the webhook secrets are)."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_name, transform="json", max_age=300)
    if not isinstance(value, dict):
        raise ShopConfigError(secret_name, "must be a JSON object")
    return value
