"""Everything the store holds on a member, as JSON-ready values (dates ISO, decimals as
strings or integers): the items of a data-access export."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist

from memberflow.clock import iso
from memberflow.store.journey_models import Coupon, Enrolment, Message
from memberflow.store.models import LedgerEntry, Order


def plain(value):
    """A stored value as JSON-ready values (a map attribute as a dict)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value != value.to_integral_value() else int(value)
    if isinstance(value, MapAttribute):
        return {k: plain(v) for k, v in value.attribute_values.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _item(item) -> dict[str, Any]:
    return {name: plain(getattr(item, name)) for name in item.get_attributes()}


def member_items(member_id: str) -> dict[str, list[dict[str, Any]]]:
    """The member's orders, ledger entries, enrolments, messages and coupons."""
    return {
        "orders": [_item(o) for o in Order.member_index.query(member_id)],
        "ledger": [_item(e) for e in LedgerEntry.query(member_id)],
        "enrolments": [_item(e) for e in Enrolment.query(member_id)],
        "messages": [_item(m) for m in Message.query(member_id)],
        "coupons": [_item(c) for c in _coupons(member_id)],
    }


def _coupons(member_id: str) -> list[Coupon]:
    # Coupons are keyed by code; a member's codes are on its messages.
    codes = {m.coupon_code for m in Message.query(member_id) if m.coupon_code}
    out = []
    for code in sorted(codes):
        try:
            out.append(Coupon.get(code))
        except DoesNotExist:
            continue
    return out
