"""verify_and_parse: raw delivery in, verified and normalised :class:`Delivery` out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from memberflow.webhooks import _util as u
from memberflow.webhooks import native, shopify, woocommerce
from memberflow.webhooks.errors import WebhookError
from memberflow.webhooks.events import Event
from memberflow.webhooks.secrets import Source, WebhookSecrets
from memberflow.webhooks.signing import hmac_sha256_base64

MAX_BODY_BYTES = 256 * 1024
PLATFORMS = ("shopify", "woocommerce", "events")
CONTENT_TYPE = "Content-Type"


@dataclass(frozen=True)
class Delivery:
    """One verified delivery.

    ``shop`` is the configured source the signature proved (shop domain, site URL or
    Standard Webhooks sender), never a header's word. ``delivery_id`` is the dedupe key,
    unique across platforms: ``shopify:{shop}:{topic}:{event id}``,
    ``woocommerce:{site}:{topic}:{delivery id}``, ``events:{sender}:{webhook-id}``.
    ``body_sha256`` is the hash of the raw body: a delivery id reused with another body
    is refused (409). ``ignored`` deliveries are genuine but carry nothing to record
    (unknown topic, WooCommerce ping, untracked order status): answer 2xx.
    """

    platform: str
    shop: str
    topic: str
    delivery_id: str
    events: list[Event] = field(default_factory=list)
    ignored: bool = False
    reason: str | None = None
    body_sha256: str = ""


def _ignored(platform: str, shop: str, topic: str, delivery_id: str, reason: str) -> Delivery:
    return Delivery(platform, shop, topic, delivery_id, [], True, reason)


def _check_content_type(headers: u.Headers) -> None:
    value = headers.get(CONTENT_TYPE)
    if value is None:
        raise WebhookError(415, f"header:{CONTENT_TYPE}", "must be application/json")
    media, *params = (part.strip().lower() for part in value.split(";"))
    if media != "application/json":
        raise WebhookError(415, f"header:{CONTENT_TYPE}", "must be application/json")
    for param in params:
        name, _, val = param.partition("=")
        if name.strip() == "charset" and val.strip().strip('"') not in ("utf-8", "utf8"):
            raise WebhookError(415, f"header:{CONTENT_TYPE}", "charset must be utf-8")


def _check_hmac(headers: u.Headers, name: str, secret: str, body: bytes) -> None:
    """base64(HMAC-SHA256) in ``name``, compared in constant time on the raw digests."""
    given = headers.require(name, status=401)
    try:
        given_digest = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError(401, f"header:{name}", "invalid signature") from None
    expected = base64.b64decode(hmac_sha256_base64(secret, body))
    if not hmac.compare_digest(expected, given_digest):
        raise WebhookError(401, f"header:{name}", "invalid signature")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError(400, "body", f"not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise WebhookError(400, "body", "byte order mark not allowed")
    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's rule ("Expecting ',' delimiter"), never the document
        raise WebhookError(400, "body", f"invalid JSON: {exc.msg} at char {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, huge ints, deep nesting
        kind = "too deeply nested" if isinstance(exc, RecursionError) else "unsupported value"
        raise WebhookError(400, "body", f"invalid JSON: {kind}") from None
    # "\ud800" escapes decode to lone surrogates: not text, never storable (only walk
    # the document when the raw text has such an escape)
    if _SURROGATE_ESCAPE.search(text):
        found = u.find_lone_surrogate(doc)
        if found is not None:
            raise WebhookError(400, u.path_of(found), "not valid Unicode text (lone surrogate)")
    return doc


def _object(body: bytes) -> dict:
    doc = _parse_json(body)
    if not isinstance(doc, dict):
        raise WebhookError(400, "body", "must be a JSON object")
    return doc


def verify_and_parse(
    platform: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: WebhookSecrets,
    now: datetime,
) -> Delivery:
    """Verify a delivery and turn it into normalised events.

    Checks, in order: platform (404), size (413, ``body``), content type (415), the
    source named by the headers is configured (403), the signature over the raw bytes
    with that source's secret (401), then UTF-8, JSON and Unicode (400), the JSON Schema
    of the fields memberflow uses and the topic's agreement with the body (400 naming the
    path, e.g. ``body.line_items[0].price``).
    Raises :class:`WebhookError`; anything returned is genuine and well-formed.
    """
    if platform not in PLATFORMS:
        raise WebhookError(404, "platform", "unknown platform")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise WebhookError(400, "body", "must be bytes")
    body = bytes(body)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(413, "body", f"larger than {MAX_BODY_BYTES} bytes")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    hdrs = u.Headers(headers)

    if platform == "woocommerce":
        ping = woocommerce.PING.fullmatch(body)
        media = (hdrs.get(CONTENT_TYPE) or "").split(";")[0].strip().lower()
        if ping and media in ("", "application/x-www-form-urlencoded"):
            # unsigned by design (WC_Webhook::deliver_ping); it carries nothing to store
            return _ignored(
                "woocommerce",
                hdrs.get(woocommerce.SOURCE_HEADER) or "",
                "ping",
                f"woocommerce:ping:{int(ping.group(1))}",
                "ping",
            )

    _check_content_type(hdrs)
    digest = hashlib.sha256(body).hexdigest()

    if platform == "shopify":
        source = _configured(secrets, "shopify", hdrs, shopify.SHOP_HEADER, shopify.read_shop)
        _check_hmac(hdrs, shopify.HMAC_HEADER, source.secret, body)
        ctx = shopify.read_headers(hdrs, now, shop=source.name)
        did = shopify.delivery_id(ctx)
        parser = shopify.TOPICS.get(ctx.topic)
        if parser is None:
            return _ignored("shopify", ctx.shop, ctx.topic, did, f"unknown topic {ctx.topic!r}")
        try:
            events = parser(ctx, _object(body))
        except u.Ignored as why:
            return _ignored("shopify", ctx.shop, ctx.topic, did, why.reason)
        return Delivery("shopify", ctx.shop, ctx.topic, did, events, body_sha256=digest)

    if platform == "woocommerce":
        source = _configured(
            secrets, "woocommerce", hdrs, woocommerce.SOURCE_HEADER, woocommerce.read_source
        )
        _check_hmac(hdrs, woocommerce.SIGNATURE_HEADER, source.secret, body)
        wctx = woocommerce.read_headers(hdrs, site=source.name)
        did = woocommerce.delivery_id(wctx)
        wparser = woocommerce.TOPICS.get(wctx.topic)
        if wparser is None:
            return _ignored(
                "woocommerce", wctx.shop, wctx.topic, did, f"unknown topic {wctx.topic!r}"
            )
        try:
            events = wparser(wctx, _object(body))
        except u.Ignored as why:
            return _ignored("woocommerce", wctx.shop, wctx.topic, did, why.reason)
        return Delivery("woocommerce", wctx.shop, wctx.topic, did, events, body_sha256=digest)

    senders = secrets.of_kind("standard_webhooks")
    if not senders:
        raise WebhookError(
            403, "header:webhook-signature", "no Standard Webhooks sender configured"
        )
    msg_id, sender = native.verify(hdrs, body, [(s.name, s.key) for s in senders], now)
    did = f"events:{sender}:{msg_id}"
    doc = _object(body)

    def addressed(platform: str | None, shop: str | None, field: str) -> tuple[str, str]:
        """The source an event names: the sender's own namespace, or a configured
        source (the signature proves the sender, and the sender may speak only for
        sources this programme accepts)."""
        if platform in (None, "", native.PLATFORM):
            if shop not in (None, "", sender):
                raise WebhookError(403, field, "names another sender's namespace")
            return native.PLATFORM, sender
        kind = {"shopify": "shopify", "woocommerce": "woocommerce"}.get(platform)
        configured = secrets.source(kind, shop or "") if kind else None
        if configured is None:
            raise WebhookError(403, field, "source not configured in the programme's sources")
        return platform, configured.name

    try:
        kind, shop, events = native.parse(doc, addressed, now)
    except u.Ignored as why:
        return _ignored("events", sender, doc["type"], did, why.reason)
    return Delivery("events", shop, kind, did, events, body_sha256=digest)


def _configured(secrets: WebhookSecrets, kind: str, hdrs: u.Headers, header: str, read) -> Source:
    """The configured source a delivery claims in ``header``; 403 when none is."""
    claimed = read(hdrs)
    source = secrets.source(kind, claimed)
    if source is None:
        raise WebhookError(403, f"header:{header}", f"source not configured in sources.{kind}")
    return source
