"""The one exception of the webhook layer."""

from __future__ import annotations


class WebhookError(Exception):
    """A delivery that must be refused with a 4xx status.

    ``field`` names what was wrong: ``"header:X-Shopify-Hmac-Sha256"`` for a header,
    ``"body"`` for the body as a whole, ``"body.line_items[0].price"`` for a JSON path.
    ``reason`` is safe to return to the caller and to log: it never carries personal
    data (no emails, names or values taken from the body), only ids and rule names.
    """

    def __init__(self, status: int, field: str, reason: str):
        super().__init__(f"{status} {field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason

    def as_body(self) -> dict:
        """The HTTP response body: ``{"error": {"status", "field", "reason"}}``."""
        return {"error": {"status": self.status, "field": self.field, "reason": self.reason}}

    def __repr__(self) -> str:
        return f"WebhookError({self.status!r}, {self.field!r}, {self.reason!r})"
