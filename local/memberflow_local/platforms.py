"""Deliveries as the platforms send them, built from the sample payloads in events/.

The simulation and the demo post these through the public webhook routes, signed
exactly as Shopify, WooCommerce and Standard Webhooks sign, each with the secret of its
configured source (the programme's ``sources``; the local stack's development secrets).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from memberflow.webhooks.secrets import WebhookSecrets
from memberflow.webhooks.signing import shopify_headers, standard_headers, woocommerce_headers

PAYLOADS = Path(__file__).resolve().parents[2] / "events" / "payloads"
# the default programme's sources (programme.default.json): a programme that simulates
# deliveries must configure them
SHOP = "memberflow-demo.myshopify.com"
WOO_SOURCE = "https://shop.example.com/"
SENDER = "memberflow"


@cache
def _sample(relative: str) -> dict:
    return json.loads((PAYLOADS / relative).read_text())


def _shopify_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _woo_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class Deliveries:
    """Signed (path, body, headers) triples for the local stack's webhook routes."""

    def __init__(self, secrets: WebhookSecrets):
        self.secrets = secrets
        self._sequence = 0

    @classmethod
    def for_stack(cls, stack) -> Deliveries:
        """Signing with the local stack's secrets for its programme's sources."""
        from memberflow.config import load_programme

        sources = load_programme(stack.programme_file or None).sources
        return cls(WebhookSecrets.from_config(sources, stack.webhook_secret_map))

    def _secret(self, kind: str, name: str) -> str:
        try:
            return self.secrets.secret_of(kind, name)
        except KeyError:
            raise ValueError(
                f"the simulation sends as {name!r}: configure it in the programme's sources.{kind}"
            ) from None

    def _next_id(self, prefix: str) -> str:
        self._sequence += 1
        return f"{prefix}-{self._sequence}"

    # ------------------------------------------------------------------ Shopify
    def _shopify(self, topic: str, doc: dict) -> tuple[str, bytes, dict]:
        body = json.dumps(doc).encode()
        headers = shopify_headers(
            self._secret("shopify", SHOP), topic, SHOP, body, self._next_id("sim-shopify")
        )
        return "/webhooks/shopify", body, headers

    def shopify_customer(
        self,
        customer_id: int,
        email: str,
        first: str,
        last: str,
        at: datetime,
        phone: str | None = None,
        birthday: str | None = None,
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("shopify/customers_create.json"))
        doc.update(
            id=customer_id,
            email=email,
            first_name=first,
            last_name=last,
            created_at=_shopify_time(at),
            updated_at=_shopify_time(at),
            phone=phone,
        )
        if birthday:  # the standard "Birth date" metafield, as a subscription naming
            # the facts namespace receives it (docs/platforms/shopify.md)
            doc["metafields"] = [
                {"namespace": "facts", "key": "birth_date", "value": birthday, "type": "date"}
            ]
        if isinstance(doc.get("default_address"), dict):
            doc["default_address"].update(
                customer_id=customer_id, first_name=first, last_name=last, phone=phone
            )
        return self._shopify("customers/create", doc)

    def shopify_email_consent(
        self, customer_id: int, email: str, granted: bool, at: datetime
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("shopify/customers_email_marketing_consent_update.json"))
        doc["customer_id"] = customer_id
        doc["email_address"] = email
        doc["email_marketing_consent"] = {
            "state": "subscribed" if granted else "unsubscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": _shopify_time(at),
        }
        return self._shopify("customers/email_marketing_consent_update", doc)

    def shopify_order_paid(
        self,
        order_id: int,
        customer_id: int,
        email: str,
        total: Decimal,
        at: datetime,
        coupon: str | None = None,
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("shopify/orders_paid.json"))
        text = f"{total:.2f}"
        doc.update(
            id=order_id,
            email=email,
            contact_email=email,
            created_at=_shopify_time(at),
            processed_at=_shopify_time(at),
            updated_at=_shopify_time(at),
            current_total_price=text,
            total_price=text,
            currency="CNY",
            discount_codes=[{"code": coupon, "amount": "0.00", "type": "percentage"}]
            if coupon
            else [],
        )
        doc["customer"] = {**doc.get("customer", {}), "id": customer_id, "email": email}
        return self._shopify("orders/paid", doc)

    def shopify_refund(
        self, refund_id: int, order_id: int, amount: Decimal, at: datetime
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("shopify/refunds_create.json"))
        doc.update(
            id=refund_id,
            order_id=order_id,
            created_at=_shopify_time(at),
            processed_at=_shopify_time(at),
            refund_line_items=[],
        )
        doc["transactions"] = [
            {
                "id": refund_id,
                "order_id": order_id,
                "kind": "refund",
                "status": "success",
                "amount": f"{amount:.2f}",
                "currency": "CNY",
            }
        ]
        return self._shopify("refunds/create", doc)

    def shopify_redact(self, customer_id: int, email: str) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("shopify/customers_redact.json"))
        doc["customer"] = {**doc.get("customer", {}), "id": customer_id, "email": email}
        return self._shopify("customers/redact", doc)

    # ------------------------------------------------------------------ WooCommerce
    def _woo(self, topic: str, doc: dict) -> tuple[str, bytes, dict]:
        body = json.dumps(doc).encode()
        headers = woocommerce_headers(
            self._secret("woocommerce", WOO_SOURCE),
            topic,
            WOO_SOURCE,
            body,
            self._next_id("sim-woo"),
        )
        return "/webhooks/woocommerce", body, headers

    def woo_customer(
        self, customer_id: int, email: str, first: str, last: str, at: datetime
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("woocommerce/customer.created.json"))
        doc.update(
            id=customer_id,
            email=email,
            first_name=first,
            last_name=last,
            date_created_gmt=_woo_time(at),
            date_modified_gmt=_woo_time(at),
        )
        if isinstance(doc.get("billing"), dict):
            doc["billing"].update(email=email, first_name=first, last_name=last)
        return self._woo("customer.created", doc)

    def woo_order(
        self,
        order_id: int,
        customer_id: int,
        email: str,
        total: Decimal,
        at: datetime,
        status: str = "processing",
        coupon: str | None = None,
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("woocommerce/order.updated_processing.json"))
        doc.update(
            id=order_id,
            customer_id=customer_id,
            status=status,
            total=f"{total:.2f}",
            currency="CNY",
            date_created_gmt=_woo_time(at),
            date_modified_gmt=_woo_time(at),
            date_paid_gmt=_woo_time(at),
            coupon_lines=[{"id": 1, "code": coupon}] if coupon else [],
        )
        doc["billing"] = {**doc.get("billing", {}), "email": email}
        return self._woo("order.updated", doc)

    # ------------------------------------------------------------------ memberflow events
    def _standard(self, doc: dict, at: datetime) -> tuple[str, bytes, dict]:
        body = json.dumps(doc).encode()
        headers = standard_headers(
            self._secret("standard_webhooks", SENDER), self._next_id("msg_sim"), body, at
        )
        return "/webhooks/events", body, headers

    def interaction(
        self, platform: str, shop: str, customer_id: int, kind: str, at: datetime
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("memberflow/interaction.json"))
        doc["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        doc["data"] = {
            **doc.get("data", {}),
            "platform": platform,
            "shop": shop,
            "customer_id": str(customer_id),
            "kind": kind,
            "interaction_id": self._next_id("int"),
            "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        doc["data"].pop("member_id", None)
        return self._standard(doc, at)

    def birthday(
        self, platform: str, shop: str, customer_id: int, birthday: str, at: datetime
    ) -> tuple[str, bytes, dict]:
        """A member.upserted with the birthday alone: how a shop without a standard
        birthday field (WooCommerce) sends it (docs/platforms/woocommerce.md)."""
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        data = {"platform": platform, "shop": shop, "customer_id": str(customer_id)}
        doc = {"type": "member.upserted", "timestamp": stamp, "data": data}
        data.update(birthday=birthday, updated_at=stamp)
        return self._standard(doc, at)

    def consent(
        self, platform: str, shop: str, customer_id: int, channel: str, granted: bool, at: datetime
    ) -> tuple[str, bytes, dict]:
        doc = copy.deepcopy(_sample("memberflow/consent.changed.json"))
        doc["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        doc["data"] = {
            **doc.get("data", {}),
            "platform": platform,
            "shop": shop,
            "customer_id": str(customer_id),
            "channel": channel,
            "granted": granted,
            "updated_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        doc["data"].pop("member_id", None)
        return self._standard(doc, at)
