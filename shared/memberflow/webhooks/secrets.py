"""Webhook secrets, and the development defaults the local stack signs with.

The development values are public (they are in this file): never deploy them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

DEV_SHOPIFY_SECRET = "shpss_memberflow_local_dev"
DEV_WOOCOMMERCE_SECRET = "wc_memberflow_local_dev"
# "whsec_" + base64(b"memberflow-local-development-key")
DEV_MEMBERFLOW_SECRET = "whsec_bWVtYmVyZmxvdy1sb2NhbC1kZXZlbG9wbWVudC1rZXk="

_WHSEC_PREFIX = "whsec_"


def standard_key(whsec_secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_<base64>``, prefix optional)."""
    text = whsec_secret.strip()
    if text.startswith(_WHSEC_PREFIX):
        text = text[len(_WHSEC_PREFIX) :]
    try:
        # like the reference implementation, tolerate missing padding
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the memberflow webhook secret must be whsec_<base64>") from None
    if not key:
        raise ValueError("the memberflow webhook secret is empty")
    return key


@dataclass(frozen=True)
class WebhookSecrets:
    """The shared secrets, one per source. Empty or malformed secrets are refused here,
    at configuration time, rather than silently accepting forged deliveries later."""

    shopify: str
    woocommerce: str
    memberflow: str
    memberflow_key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.shopify or not self.woocommerce:
            raise ValueError("webhook secrets may not be empty")
        object.__setattr__(self, "memberflow_key", standard_key(self.memberflow))

    def __repr__(self) -> str:  # never print a secret
        return "WebhookSecrets(<redacted>)"

    @classmethod
    def dev(cls) -> WebhookSecrets:
        """The development defaults (local stack, tests, demo)."""
        return cls(DEV_SHOPIFY_SECRET, DEV_WOOCOMMERCE_SECRET, DEV_MEMBERFLOW_SECRET)
