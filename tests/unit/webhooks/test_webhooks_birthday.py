"""A birthday in the customer payloads: memberflow's own member.upserted, Shopify's
standard customer metafield facts.birth_date (in the payload only for the namespaces the
webhook subscription names), and none from WooCommerce (no standard field)."""

from __future__ import annotations

import pytest

from memberflow.webhooks import WebhookError


def _birthday_of(delivery) -> str | None:
    (event,) = delivery.events
    return event.birthday


def test_member_upserted_carries_the_birthday_in_its_stored_form(wh):
    doc = wh.doc("memberflow", "member.upserted.json")
    assert _birthday_of(wh.events(doc)) is None  # absent: the stored one stays
    doc["data"]["birthday"] = "1990-05-17"
    assert _birthday_of(wh.events(doc)) == "1990-05-17"
    doc["data"]["birthday"] = "05-17"
    assert _birthday_of(wh.events(doc)) == "--05-17"
    for bad, field, reason in (
        ("1990-02-30", "body.data.birthday", "is not a day of the calendar"),
        ("2025-06-20", "body.data.birthday", "is in the future"),
        ("17.05.1990", "body.data", None),  # the schema's pattern
    ):
        doc["data"]["birthday"] = bad
        with pytest.raises(WebhookError) as refused:
            wh.events(doc)
        assert refused.value.status == 400 and refused.value.field.startswith(field)
        if reason:
            assert refused.value.reason == reason
        assert bad not in str(refused.value)  # personal data is never echoed


def test_shopify_reads_the_birth_date_metafield_when_the_subscription_sends_it(wh):
    doc = wh.doc("shopify", "customers_create.json")
    assert "metafields" not in doc and _birthday_of(wh.shopify("customers/create", doc)) is None
    doc["metafields"] = [
        {"namespace": "custom", "key": "birth_date", "value": "2001-01-01", "type": "date"},
        {"namespace": "facts", "key": "birth_date", "value": "1990-05-17", "type": "date"},
    ]
    assert _birthday_of(wh.shopify("customers/update", doc)) == "1990-05-17"
    doc["metafields"][1]["value"] = "1990-13-01"
    with pytest.raises(WebhookError) as refused:
        wh.shopify("customers/update", doc)
    assert (refused.value.status, refused.value.field) == (400, "body.metafields[1].value")


def test_woocommerce_has_no_standard_birthday_field(wh):
    doc = wh.doc("woocommerce", "customer.created.json")
    doc["meta_data"] = [{"id": 1, "key": "birthday", "value": "1990-05-17"}]  # a plugin's
    assert _birthday_of(wh.woo("customer.created", doc)) is None
