"""The orders table: one item per platform order (``<platform>#<shop>#<order id>``),
written by the loyalty engine's unit of work; read here by key or by member."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, UpdateError

from memberflow.store.models import Order


def order(order_key: str) -> Order | None:
    """The order, read consistently; None when it was never recorded."""
    try:
        return Order.get(order_key, consistent_read=True)
    except DoesNotExist:
        return None


def clear_attributes(member_id: str, names: tuple[str, ...]) -> None:
    """Remove ``names`` from every order of the member that holds any. The version
    bump makes a concurrent loyalty write of the same order (read before this) fail
    its condition and re-read, so it cannot write them back."""
    for item in Order.member_index.query(member_id):
        if not any(getattr(item, name) for name in names):
            continue
        try:
            item.update(
                actions=[getattr(Order, name).remove() for name in names] + [Order.version.add(1)],
                condition=Order.order_key.exists(),
            )
        except UpdateError:
            continue  # the order is gone: nothing left to clear
