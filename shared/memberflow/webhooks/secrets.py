"""Configured sources and their secrets, and the development defaults the local stack
signs with.

The programme configuration's ``sources`` section names every sender memberflow
accepts: Shopify shops (by ``X-Shopify-Shop-Domain``), WooCommerce sites (by
``X-WC-Webhook-Source``) and Standard Webhooks senders. Each names a key (``secret``)
of one Secrets Manager secret holding a JSON map ``{key: secret}``. A delivery is
trusted only when it verifies with the secret of the source it claims to come from, so
two sources of one platform must not share a secret: memberflow could not tell them
apart, and a body signed for one could be replayed as the other.

The development values are public (they are in this file): never deploy them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEV_SHOPIFY_SECRET = "shpss_memberflow_local_dev"
DEV_WOOCOMMERCE_SECRET = "wc_memberflow_local_dev"
# "whsec_" + base64(b"memberflow-local-development-key")
DEV_MEMBERFLOW_SECRET = "whsec_bWVtYmVyZmxvdy1sb2NhbC1kZXZlbG9wbWVudC1rZXk="
# the development secret map: the keys the default programme's sources name
DEV_SECRET_MAP = {
    "shopify": DEV_SHOPIFY_SECRET,
    "woocommerce": DEV_WOOCOMMERCE_SECRET,
    "memberflow": DEV_MEMBERFLOW_SECRET,
}
# the outbound webhook channel signs with this key of the map (Standard Webhooks)
OUTBOUND_SECRET_KEY = "memberflow"

_WHSEC_PREFIX = "whsec_"
# the sources section: platform -> the field naming the source
SOURCE_KINDS = {"shopify": "shop", "woocommerce": "site", "standard_webhooks": "sender"}


def standard_key(whsec_secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_<base64>``, prefix optional)."""
    text = whsec_secret.strip()
    if text.startswith(_WHSEC_PREFIX):
        text = text[len(_WHSEC_PREFIX) :]
    try:
        # like the reference implementation, tolerate missing padding
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret must be whsec_<base64>") from None
    if not key:
        raise ValueError("a Standard Webhooks secret is empty")
    return key


def canonical_site(url: str) -> str:
    """A WooCommerce site URL as compared: scheme and host lower-cased, one trailing
    slash (WooCommerce sends ``home_url('/')``)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text.lower()
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}/{path.rstrip('/')}".rstrip("/") + "/"


def canonical_name(kind: str, name: str) -> str:
    if kind == "woocommerce":
        return canonical_site(name)
    if kind == "shopify":
        return name.strip().lower()
    return name.strip()


class SourceConfigError(ValueError):
    """A source or its secret is unusable; ``field`` is the configuration path."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class Source:
    """One configured sender. ``name`` is the namespace of its keys (orders, identities,
    deliveries): the shop domain, the site URL as configured, or the sender's name."""

    kind: str  # shopify | woocommerce | standard_webhooks
    name: str
    secret_ref: str
    secret: str = field(repr=False)
    key: bytes = field(repr=False)


class WebhookSecrets:
    """The configured sources with their secrets, and the outbound signing secret.
    Empty, malformed or shared secrets are refused here, at start-up, rather than
    silently accepting forged deliveries later."""

    def __init__(self, sources: list[Source], memberflow: str):
        self.sources = tuple(sources)
        self.memberflow = memberflow  # outbound webhook channel (Standard Webhooks)
        self._by_name = {(s.kind, canonical_name(s.kind, s.name)): s for s in self.sources}

    @classmethod
    def from_config(
        cls, sources: Mapping[str, Any] | None, secret_map: Mapping[str, Any]
    ) -> WebhookSecrets:
        """``sources``: the programme's ``sources`` section; ``secret_map``: the secret's
        JSON map. Raises :class:`SourceConfigError` naming the field at fault."""
        out: list[Source] = []
        # one secret per source, across platforms too: the secret is the source's identity
        seen_refs: dict[str, str] = {}
        seen_keys: dict[bytes, str] = {}
        for kind, name_field in SOURCE_KINDS.items():
            for i, entry in enumerate((sources or {}).get(kind) or []):
                path = f"$.sources.{kind}[{i}]"
                name, ref = entry[name_field], entry["secret"]
                secret = secret_map.get(ref)
                if not isinstance(secret, str) or not secret.strip():
                    raise SourceConfigError(
                        f"{path}.secret", f"the webhook secret has no non-empty key {ref!r}"
                    )
                if kind == "standard_webhooks":
                    try:
                        key = standard_key(secret)
                    except ValueError as why:
                        raise SourceConfigError(f"{path}.secret", str(why)) from None
                else:
                    key = secret.encode()
                if ref in seen_refs or key in seen_keys:
                    other = seen_refs.get(ref) or seen_keys[key]
                    raise SourceConfigError(
                        f"{path}.secret",
                        f"shares its secret with {other}: memberflow could not tell them apart",
                    )
                seen_refs[ref] = seen_keys[key] = path
                out.append(Source(kind, canonical_name(kind, name), ref, secret, key))
        names = [(s.kind, s.name) for s in out]
        if len(set(names)) != len(names):
            raise SourceConfigError("$.sources", "a source is configured twice")
        outbound = secret_map.get(OUTBOUND_SECRET_KEY)
        if not isinstance(outbound, str) or not outbound.strip():
            raise SourceConfigError(
                "secret", f"the webhook secret has no key {OUTBOUND_SECRET_KEY!r}"
            )
        try:
            standard_key(outbound)
        except ValueError as why:
            raise SourceConfigError(f"secret.{OUTBOUND_SECRET_KEY}", str(why)) from None
        return cls(out, outbound)

    @classmethod
    def dev(cls, sources: Mapping[str, Any] | None = None) -> WebhookSecrets:
        """The development defaults (local stack, tests, demo) for ``sources`` (default:
        the bundled programme's)."""
        if sources is None:
            from memberflow.config.programme import default_document

            sources = default_document().get("sources", {})
        return cls.from_config(sources, dev_secret_map(sources))

    # -- look-ups
    def source(self, kind: str, name: str) -> Source | None:
        return self._by_name.get((kind, canonical_name(kind, name)))

    def of_kind(self, kind: str) -> list[Source]:
        return [s for s in self.sources if s.kind == kind]

    def secret_of(self, kind: str, name: str | None = None) -> str:
        """The secret of source ``name`` (default: the first of ``kind``); for senders
        (tests, the simulation, tools)."""
        sources = self.of_kind(kind)
        chosen = self.source(kind, name) if name else (sources[0] if sources else None)
        if chosen is None:
            raise KeyError(f"no configured {kind} source {name or ''}".strip())
        return chosen.secret

    def __repr__(self) -> str:  # never print a secret
        return f"WebhookSecrets({len(self.sources)} sources, <redacted>)"

    __str__ = __repr__


def dev_secret(kind: str, ref: str) -> str:
    """A development secret for a secret key the development map lacks: derived from
    the key, public, for the local stack only."""
    if ref in DEV_SECRET_MAP:
        return DEV_SECRET_MAP[ref]
    seed = hashlib.sha256(f"memberflow-local-{kind}-{ref}".encode()).digest()
    if kind == "standard_webhooks":
        return _WHSEC_PREFIX + base64.b64encode(seed).decode("ascii")
    return f"dev_{seed.hex()[:24]}"


def dev_secret_map(
    sources: Mapping[str, Any] | None, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The development secret map for ``sources``: every key they name, the outbound
    key, and ``overrides`` (values the operator set) on top."""
    out = dict(DEV_SECRET_MAP)
    for kind in SOURCE_KINDS:
        for entry in (sources or {}).get(kind) or []:
            out.setdefault(entry["secret"], dev_secret(kind, entry["secret"]))
    out.update({k: v for k, v in (overrides or {}).items() if v})
    return out
