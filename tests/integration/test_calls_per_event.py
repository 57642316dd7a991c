"""AWS calls per webhook delivery (issue 13): counted with a botocore hook on every
client, so they are deterministic. Timings are bench/'s business, never asserted here."""

from __future__ import annotations

from bench.calls import TARGETS, Shop, counting, delivery_calls
from memberflow.store import Enrolment, LedgerEntry, Member, Order


def _calls(ops: dict[str, int]) -> int:
    return sum(ops.values())


def test_a_sign_up_a_paid_order_and_a_refund_cost_their_target_in_aws_calls(stack):
    shop = Shop(stack)
    with counting(stack) as meter:
        # warm: the function's cold start reads its secret and programme
        assert shop.post("customers/create", shop.customer(0)).status == 200
        stack.clock.wait_idle()

        response, signup = delivery_calls(
            meter, lambda: shop.post("customers/create", shop.customer(1), "signup-1")
        )
        assert response.status == 200, response.body
        # claim, one read, one write (member, links, join bonus, welcome enrolment),
        # StartExecution, the execution's ARN with the receipt
        assert _calls(signup) <= 5 <= TARGETS["signup_handler"], signup
        assert signup.get("stepfunctions.StartExecution") == 1, signup
        (member_id,) = response.json()["member_ids"]
        member = Member.get(member_id, consistent_read=True)
        assert member.joined_at is not None and int(member.points_balance) >= 100
        assert [e.enrolment_key for e in Enrolment.query(member_id)] == [
            f"welcome#welcome-{member_id}"
        ]

        response, paid = delivery_calls(
            meter, lambda: shop.post("orders/paid", shop.order(1, 1), "paid-1")
        )
        assert response.status == 200, response.body
        # one read (receipt, order, identity, member, coupons), one transaction (order,
        # member, ledger, receipt), attribution's one query
        assert _calls(paid) <= TARGETS["orders_paid"], paid
        assert paid.get("TransactWriteItems") == 1, paid
        earned = Member.get(member_id, consistent_read=True)
        assert int(earned.order_count) == 1 and earned.points_balance > member.points_balance

        response, refund = delivery_calls(
            meter, lambda: shop.post("refunds/create", shop.refund(1), "refund-1")
        )
        assert response.status == 200, response.body
        assert _calls(refund) <= TARGETS["refund"], refund
        (order,) = [o for o in Order.scan() if o.member_id == member_id]
        assert order.refund_ids and Member.get(member_id).points_balance < earned.points_balance

        # A redelivery is answered from the receipt, read with the delivery's first read,
        # and changes nothing.
        entries = len(list(LedgerEntry.query(member_id)))
        response, again = delivery_calls(
            meter, lambda: shop.post("orders/paid", shop.order(1, 1), "paid-1")
        )
        assert response.status == 200 and response.json()["member_ids"] == [member_id]
        assert again == {"BatchGetItem": 1}, again
        response, again = delivery_calls(
            meter, lambda: shop.post("customers/create", shop.customer(1), "signup-1")
        )
        assert response.status == 200 and response.json()["member_ids"] == [member_id]
        assert _calls(again) == 1, again  # the refused claim returns the record
        assert len(list(LedgerEntry.query(member_id))) == entries
    stack.clock.wait_idle()
