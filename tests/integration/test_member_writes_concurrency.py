"""Every kind of member write races a paid order and neither is lost.

Each member write (consent, a customers/update profile, a sign-up, suppression, the RFM
score, erasure, the stub an order creates) is committed in the two interleavings a
concurrent order meets: the write between the order's read of the member and the
order's commit, and the order between the write's read and the write's commit. Both
must land: the order's points and spend, the field the write set, and the member's
version advanced once by each (``memberflow.store.members``: one write path)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from memberflow.ingest.customers import apply_customer
from memberflow.ingest.resolve import member_for
from memberflow.journeys.entry import JourneyEntry
from memberflow.journeys.suppression import set_suppression
from memberflow.loyalty.rfm_job import recompute_rfm
from memberflow.members.consent import set_consent
from memberflow.members.privacy import erase_member
from memberflow.members.service import _link
from memberflow.runtime import app_context
from memberflow.store import Member, members, unit_of_work
from memberflow.webhooks.events import CustomerUpserted
from tests.integration.test_loyalty_support import SHOP, apply, make_member, paid

CUSTOMER = "7001"

# The two interleavings: the member write inside the order, the order inside the write.
WRITE_INSIDE_ORDER = "write-inside-order"
ORDER_INSIDE_WRITE = "order-inside-write"


def _write_inside_order(monkeypatch, member_id: str, write) -> list:
    """Run ``write`` once, right after the order path has read the member."""
    real_read = unit_of_work._read
    ran = []

    def read(read_id, order):
        current = real_read(read_id, order)
        if order is not None and read_id == member_id and not ran:
            ran.append(read_id)
            write()
        return current

    monkeypatch.setattr(unit_of_work, "_read", read)
    return ran


def _order_inside_write(monkeypatch, member_id, order) -> list:
    """Commit ``order`` once, right before the member write is sent (after its read):
    an UpdateItem of update_member or of a write that reads nothing back, or a transaction of the loyalty engine's write path
    (a customers/* delivery commits its member, links and bonuses in one)."""
    real_update = Member.update
    real_committing = unit_of_work._committing
    ran = []

    def update(self, *args, **kwargs):
        if self.member_id == member_id() and not ran:
            ran.append(self.member_id)
            order()
        return real_update(self, *args, **kwargs)

    def committing(committed_id, actions):
        if committed_id == member_id() and not ran:
            ran.append(committed_id)
            order()
        return real_committing(committed_id, actions)

    def write_unread(written_id, *args, **kwargs):
        if written_id == member_id() and not ran:
            ran.append(written_id)
            order()
        return real_write_unread(written_id, *args, **kwargs)

    real_write_unread = members.write_unread
    monkeypatch.setattr(Member, "update", update)
    monkeypatch.setattr(unit_of_work, "_committing", committing)
    monkeypatch.setattr(members, "write_unread", write_unread)
    return ran


def _customer(at, **fields) -> CustomerUpserted:
    values = {
        "platform": "shopify",
        "shop": SHOP,
        "customer_id": CUSTOMER,
        "email": None,
        "phone": None,
        "first_name": None,
        "last_name": None,
        "locale": None,
        "timezone": None,
        "updated_at": at,
        "created_at": None,
        "profile_completed": False,
    }
    return CustomerUpserted(**{**values, **fields})


def _race(stack, monkeypatch, interleaving, member_id, write):
    """Apply a paid order to ``member_id`` with ``write`` interleaved; return the
    member before, after, and the order's points on a member nobody else wrote."""
    programme = app_context().programme
    now = stack.clock.now()
    before = Member.get(member_id, consistent_read=True)
    order = paid("o-race", "150.00", now)
    if interleaving == WRITE_INSIDE_ORDER:
        ran = _write_inside_order(monkeypatch, member_id, write)
        apply(member_id, order, programme=programme, now=now)
    else:
        ran = _order_inside_write(
            monkeypatch,
            lambda: member_id,
            lambda: apply(member_id, order, programme=programme, now=now),
        )
        write()
    assert ran == [member_id]  # the interleaving happened
    monkeypatch.undo()
    after = Member.get(member_id, consistent_read=True)
    assert after.lifetime_spend == (before.lifetime_spend or 0) + Decimal("150.00")
    assert after.order_count == (before.order_count or 0) + 1
    assert int(after.points_balance) > int(before.points_balance)  # the order's points
    assert after.version == (before.version or 0) + 2  # each write once, none blind
    return before, after


BOTH = pytest.mark.parametrize("interleaving", [WRITE_INSIDE_ORDER, ORDER_INSIDE_WRITE])


def _member(stack, member_id="racer"):
    programme = app_context().programme
    now = stack.clock.now()
    make_member(member_id, programme=programme, joined_at=now - timedelta(days=30))
    return member_id


@BOTH
def test_a_consent_change_and_an_order(stack, monkeypatch, interleaving):
    member_id = _member(stack)
    at = stack.clock.now()

    def grant():
        member = Member.get(member_id, consistent_read=True)
        assert set_consent(member, "sms", True, at, honour_suppression=False)

    _, after = _race(stack, monkeypatch, interleaving, member_id, grant)
    assert after.consent.sms is True and after.consent.sms_updated_at == at


@BOTH
def test_a_profile_update_from_customers_update_and_an_order(stack, monkeypatch, interleaving):
    member_id = _member(stack)
    now = stack.clock.now()
    _link(member_id, "shopify", SHOP, CUSTOMER, now)
    event = _customer(now, first_name="Ada", last_name="Lovelace")

    def profile():
        member, created = apply_customer(
            event, programme=app_context().programme, now=now, journeys=_no_journeys
        )
        assert member.member_id == member_id and not created

    _, after = _race(stack, monkeypatch, interleaving, member_id, profile)
    assert (after.first_name, after.last_name) == ("Ada", "Lovelace")
    assert after.source_updated_at == now


@BOTH
def test_a_suppression_and_an_order(stack, monkeypatch, interleaving):
    member_id = _member(stack)

    def suppress():
        status, body = set_suppression(member_id, {"suppressed": True})
        assert status == 200 and body["suppressed"] is True

    _, after = _race(stack, monkeypatch, interleaving, member_id, suppress)
    assert after.suppressed is True and after.suppressed_at is not None


@BOTH
def test_an_rfm_score_and_an_order(stack, monkeypatch, interleaving):
    member_id = _member(stack)

    def score():
        result = recompute_rfm(
            programme=app_context().programme,
            now=stack.clock.now(),
            journeys=JourneyEntry(app_context()),
        )
        assert result["written"] == 1

    before, after = _race(stack, monkeypatch, interleaving, member_id, score)
    assert before.rfm is None and after.rfm and len(after.rfm) == 3


@BOTH
def test_an_erasure_and_an_order(stack, monkeypatch, interleaving):
    member_id = _member(stack)
    now = stack.clock.now()
    _link(member_id, "shopify", SHOP, CUSTOMER, now)
    Member.get(member_id).update(actions=[Member.first_name.set("Ada")])  # no version: setup

    def erase():
        assert erase_member(member_id, now=now)["member_id"] == member_id

    _, after = _race(stack, monkeypatch, interleaving, member_id, erase)
    assert after.erased is True and after.first_name is None
    assert after.consent.email is False and after.consent.email_updated_at == now


def test_the_stub_an_order_creates_and_another_order(stack, monkeypatch):
    """An order for an unknown customer creates a prospect stub and marks it a stub; a
    second order of the same customer commits between the creation and that mark."""
    programme = app_context().programme
    now = stack.clock.now()
    created = []

    def stub():
        created.append(_order_stub(programme, now).member_id)

    order = paid("o-race", "150.00", now)
    # The stub's member id is known once its identity is: the hook reads it from there.
    ran = _order_inside_write(
        monkeypatch,
        _created_id,
        lambda: apply(_created_id(), order, programme=programme, now=now),
    )
    stub()
    assert ran == created
    monkeypatch.undo()
    after = Member.get(created[0], consistent_read=True)
    assert after.is_stub is True
    assert after.lifetime_spend == Decimal("150.00") and after.order_count == 1
    assert int(after.points_balance) > 0
    assert after.version == 2  # created unversioned; the order, then the stub mark


def _order_stub(programme, now):
    """The prospect stub an order of the not yet known customer makes."""
    return member_for(
        platform="shopify",
        shop=SHOP,
        customer_id=CUSTOMER,
        email=None,
        programme=programme,
        now=now,
        reason="order",
    )


def _created_id() -> str:
    identity = _identity()
    return identity.member_id if identity is not None else ""


def _identity():
    from memberflow.members.identity import identity_key
    from memberflow.store import ExternalIdentity

    try:
        return ExternalIdentity.get(identity_key("shopify", SHOP, CUSTOMER), consistent_read=True)
    except ExternalIdentity.DoesNotExist:
        return None


@BOTH
def test_a_sign_up_of_a_stub_and_an_order(stack, monkeypatch, interleaving):
    """A customers/create for a customer whose order made a prospect stub: the sign-up
    (joined, no longer a stub) lands whatever order the first purchase's stage change
    commits in."""
    programme = app_context().programme
    now = stack.clock.now()
    member_id = _order_stub(programme, now).member_id
    assert Member.get(member_id).stage == "prospect"
    event = _customer(now, first_name="Ada", created_at=now)
    welcomed = []

    def sign_up():
        apply_customer(
            event,
            programme=programme,
            now=now,
            journeys=lambda: _Welcome(welcomed),
        )

    order = paid("o-race", "150.00", now)
    if interleaving == WRITE_INSIDE_ORDER:
        ran = _write_inside_order(monkeypatch, member_id, sign_up)
        apply(member_id, order, programme=programme, now=now)
    else:
        # The order commits right before the sign-up's own write (after its reads):
        # an UpdateItem, or the transaction that writes the member with its bonuses.
        real = Member.update
        real_committing = unit_of_work._committing
        ran = []

        def update(self, *args, **kwargs):
            if not ran and _is_join(kwargs.get("actions") or args[0]):
                ran.append(self.member_id)
                apply(member_id, order, programme=programme, now=now)
            return real(self, *args, **kwargs)

        def committing(committed_id, actions):
            if not ran and _is_join(actions):
                ran.append(committed_id)
                apply(member_id, order, programme=programme, now=now)
            return real_committing(committed_id, actions)

        monkeypatch.setattr(Member, "update", update)
        monkeypatch.setattr(unit_of_work, "_committing", committing)
        sign_up()
    assert ran == [member_id]
    monkeypatch.undo()
    after = Member.get(member_id, consistent_read=True)
    assert after.joined_at == now and after.is_stub is False  # the sign-up landed
    assert after.stage == "active"  # bought, then signed up (or the reverse)
    assert after.lifetime_spend == Decimal("150.00") and after.order_count == 1
    assert welcomed == [member_id]


def _is_join(actions) -> bool:
    return any("joined_at" in str(action) for action in actions)


class _Welcome:
    def __init__(self, welcomed: list):
        self.welcomed = welcomed

    def start_welcome(self, member_id: str, cohort=None) -> None:
        self.welcomed.append(member_id)


def _no_journeys() -> JourneyEntry:
    raise AssertionError("a profile update of a joined member starts no journey")


def test_a_write_its_own_guard_refuses_writes_nothing_and_is_not_retried(stack, monkeypatch):
    member_id = _member(stack)
    at = stack.clock.now()
    assert set_consent(Member.get(member_id), "email", True, at, honour_suppression=False)
    stored = Member.get(member_id, consistent_read=True)
    calls = []
    real_update = Member.update
    monkeypatch.setattr(
        Member, "update", lambda self, *a, **k: calls.append(1) or real_update(self, *a, **k)
    )
    # An older decision: the updated_at guard refuses it while the version held.
    older = at - timedelta(minutes=5)
    assert not set_consent(stored, "email", False, older, honour_suppression=False)
    assert len(calls) == 1
    after = Member.get(member_id, consistent_read=True)
    assert (after.consent.email, after.version) == (True, stored.version)


def test_a_member_that_never_stops_changing_ends_in_concurrency_exhausted(stack, monkeypatch):
    from memberflow.loyalty.service import ConcurrencyExhausted as LoyaltyExhausted
    from memberflow.store import members

    member_id = _member(stack)
    monkeypatch.setattr(members, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(members, "_backoff", lambda attempt: None)
    real_update = Member.update
    interfering = []

    def update(self, *args, **kwargs):
        # Another writer commits before each attempt of ours.
        interfering.append(1)
        real_update(Member(member_id=member_id), actions=[Member.version.add(1)])
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(Member, "update", update)
    with pytest.raises(LoyaltyExhausted):  # one exception for both write paths
        set_suppression(member_id, {"suppressed": True})
    assert len(interfering) == 3
    monkeypatch.undo()
    assert not Member.get(member_id, consistent_read=True).suppressed


def test_a_route_whose_member_never_stops_changing_answers_409_and_writes_nothing(
    stack, monkeypatch
):
    """Consent (member API) and suppression (journey API): the versioned write gave up."""
    from memberflow.store import members as member_writes

    def exhausted(*_args, **_kwargs):
        raise member_writes.ConcurrencyExhausted("contended")

    member_id = _member(stack)
    before = Member.get(member_id, consistent_read=True).version
    for module in ("memberflow.store.member_changes", "memberflow.journeys.suppression"):
        monkeypatch.setattr(f"{module}.update_member", exhausted)
    as_json = {"Content-Type": "application/json"}
    for method, path, body in (
        ("PATCH", f"/members/{member_id}/consent", {"sms": True}),
        ("PUT", f"/members/{member_id}/suppression", {"suppressed": True}),
    ):
        response = stack.http(method, path, body=body, headers=as_json)
        assert response.status == 409, response.body
        assert response.json()["error"]["field"] == "member_id"
    assert Member.get(member_id, consistent_read=True).version == before
