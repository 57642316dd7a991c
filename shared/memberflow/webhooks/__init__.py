"""The webhook layer: verify, validate and normalise deliveries; no database here.

>>> delivery = verify_and_parse("shopify", headers, raw_body, secrets, now)

returns a :class:`Delivery` of normalised events (:mod:`memberflow.webhooks.events`)
or raises :class:`WebhookError` (``status``, ``field``, ``reason``). Sources:
``shopify``, ``woocommerce`` and ``events`` (memberflow's own schema, signed with
Standard Webhooks, documented in ``schemas/README.md``).
"""

from memberflow.webhooks.core import MAX_BODY_BYTES, PLATFORMS, Delivery, verify_and_parse
from memberflow.webhooks.errors import WebhookError
from memberflow.webhooks.secrets import WebhookSecrets

__all__ = [
    "MAX_BODY_BYTES",
    "PLATFORMS",
    "Delivery",
    "WebhookError",
    "WebhookSecrets",
    "verify_and_parse",
]
