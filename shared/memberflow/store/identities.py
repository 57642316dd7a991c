"""The identities table: identity links (platform customer -> member) and the
non-identity records kept beside them: suppression, privacy requests,
parked refunds. None holds personal data (hashes, ids, amounts and times only).

Their keys never collide with identity keys (``<platform>#<shop>#<customer id>``), and
:func:`is_identity` tells a real identity link from the rest.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from memberflow.store import ExternalIdentity

SUPPRESSION = "suppression"
PRIVACY_REQUEST = "privacy_request"
PARKED_REFUND = "parked_refund"
DATA_REQUEST = "data_request"
_PREFIXES = ("suppressed#", "privacy#", "parked#", "privacy-due#")
# Every data-access request also sits in one by_member partition, keyed by its due
# date: the operator's list is one Query, soonest due first (requests are rare).
DATA_REQUESTS_OWNER = "privacy#data_requests"
DATA_REQUEST_PREFIX = "privacy-due#"
# Shopify expects the merchant to answer a customers/data_request within 30 days
# (GDPR Art. 12(3): one month).
DATA_REQUEST_DUE = timedelta(days=30)


def suppression_key(hashed_email: str) -> str:
    return f"suppressed#email#{hashed_email}"


def is_identity(record: ExternalIdentity) -> bool:
    return not (record.kind or record.identity_key.startswith(_PREFIXES))


def identities_of(member_id: str) -> list[ExternalIdentity]:
    """The member's platform identities (not its suppression or privacy records)."""
    return [r for r in ExternalIdentity.member_index.query(member_id) if is_identity(r)]


def records_of(member_id: str) -> list[ExternalIdentity]:
    return list(ExternalIdentity.member_index.query(member_id))


def _save_suppression(key: str, member_id: str, now: datetime) -> None:
    ExternalIdentity(
        identity_key=key,
        member_id=member_id,
        platform="memberflow",
        kind=SUPPRESSION,
        created_at=now,
    ).save()


def suppress(hashed_email: str, member_id: str, now: datetime) -> None:
    """Keep an opt-out beyond erasure: the email's hash, never the address."""
    _save_suppression(suppression_key(hashed_email), member_id, now)


def tombstone_key(identity_key: str) -> str:
    import hashlib

    return "suppressed#identity#" + hashlib.sha256(identity_key.encode()).hexdigest()


def tombstone(identity_key: str, member_id: str, now: datetime) -> None:
    """An erased identity: late or retried deliveries for it must not recreate a member."""
    _save_suppression(tombstone_key(identity_key), member_id, now)


def unlink(record: ExternalIdentity, member_id: str, now: datetime) -> None:
    """Delete an identity link, leaving its tombstone first (a retry finishes the work)."""
    tombstone(record.identity_key, member_id, now)
    record.delete()


def is_erased_identity(identity_key: str) -> bool:
    return get_record(tombstone_key(identity_key)) is not None


def record_privacy_request(
    *, platform: str, shop: str, kind: str, request_id: str, member_id: str | None, now: datetime
) -> str:
    """An audit record of a data-subject request (ids only), once per request: a
    redelivery keeps the first record and its due date. A data-access request is also
    queued for the operator (:func:`data_requests`), whether the customer is known or
    not. Returns the audit record's key."""
    key = f"privacy#{platform}#{(shop or '-').lower()}#{kind}#{request_id}"
    audit = ExternalIdentity(
        identity_key=key,
        member_id=member_id or "-",
        platform=platform,
        shop=shop or None,
        kind=PRIVACY_REQUEST,
        payload=json.dumps({"kind": kind, "request_id": request_id, "member_id": member_id}),
        created_at=now,
    )
    try:
        with TransactWrite(connection=ExternalIdentity._get_connection().connection) as write:
            write.save(audit, condition=ExternalIdentity.identity_key.does_not_exist())
            if kind == DATA_REQUEST:
                write.save(_queued(platform, shop, request_id, member_id, now))
    except TransactWriteError as failure:
        if not _condition_failed(failure):
            raise
        # recorded by an earlier delivery of the same request
    return key


def _queued(
    platform: str, shop: str, request_id: str, member_id: str | None, now: datetime
) -> ExternalIdentity:
    due = now + DATA_REQUEST_DUE
    return ExternalIdentity(
        identity_key=(
            f"{DATA_REQUEST_PREFIX}{due.isoformat()}#{platform}#{(shop or '-').lower()}"
            f"#{request_id}"
        ),
        member_id=DATA_REQUESTS_OWNER,
        platform=platform,
        shop=shop or None,
        kind=DATA_REQUEST,
        payload=json.dumps(
            {
                "request_id": request_id,
                "member_id": member_id,
                "received_at": now.isoformat(),
                "due_at": due.isoformat(),
            }
        ),
        created_at=now,
    )


def _condition_failed(failure: TransactWriteError) -> bool:
    reasons = getattr(failure, "cancellation_reasons", None) or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)


def data_requests(
    *, limit: int, after: str | None = None
) -> tuple[list[tuple[ExternalIdentity, dict]], str | None]:
    """Data-access requests, soonest due first: (record, payload) pairs and the key to
    continue after (None on the last page)."""
    last = None
    if after is not None:
        last = {"identity_key": {"S": after}, "member_id": {"S": DATA_REQUESTS_OWNER}}
    results = ExternalIdentity.member_index.query(
        DATA_REQUESTS_OWNER,
        ExternalIdentity.identity_key.startswith(DATA_REQUEST_PREFIX),
        limit=limit,
        last_evaluated_key=last,
    )
    page = [(record, json.loads(record.payload or "{}")) for record in results]
    more = results.last_evaluated_key
    following = more["identity_key"]["S"] if more and len(page) == limit else None
    return page, following


def _parked_owner(order_key: str) -> str:
    return f"parked#{order_key}"


def _parked_key(order_key: str) -> str:
    return f"parked#{order_key}"


def park_refund(order_key: str, refund: dict, now: datetime) -> None:
    """A refund for an order not seen yet (Shopify refunds carry no customer).

    One record per order, its refunds by id, read back by key: the order's handler
    must find it consistently (an index query right after the write may miss it)."""
    key = _parked_key(order_key)
    for _ in range(5):
        record = get_record(key)
        parked = json.loads(record.payload) if record is not None else {}
        if refund["refund_id"] in parked:
            return
        parked[refund["refund_id"]] = refund
        updated = ExternalIdentity(
            identity_key=key,
            member_id=_parked_owner(order_key),
            platform=refund["platform"],
            shop=refund["shop"] or None,
            kind=PARKED_REFUND,
            payload=json.dumps(parked, default=str, sort_keys=True),
            created_at=record.created_at if record is not None else now,
        )
        if _replace(updated, record):
            return
    raise RuntimeError(f"could not park refund {refund['refund_id']}: concurrent updates")


def _replace(updated: ExternalIdentity, previous: ExternalIdentity | None) -> bool:
    """Save ``updated`` if the stored record is still ``previous`` (optimistic)."""
    from pynamodb.exceptions import DeleteError, PutError

    if previous is None:
        condition = ExternalIdentity.identity_key.does_not_exist()
    else:
        condition = ExternalIdentity.payload == previous.payload
    try:
        if updated.payload == "{}":
            updated.delete(condition=condition)
        else:
            updated.save(condition=condition)
        return True
    except (PutError, DeleteError):
        return False


def parked_key(order_key: str) -> str:
    return _parked_key(order_key)


def parked_refunds(order_key: str) -> list[dict]:
    """The refunds parked for an order (consistent read)."""
    return parked_from(get_record(_parked_key(order_key)))


def parked_from(record: ExternalIdentity | None) -> list[dict]:
    """The refunds in a parked-refunds record (None: none parked)."""
    if record is None:
        return []
    out = []
    for data in json.loads(record.payload).values():
        out.append(data | {"amount": Decimal(data["amount"])})
    return out


def unpark_refunds(order_key: str, refund_ids: list[str]) -> None:
    """Drop refunds once applied (a refund parked meanwhile stays)."""
    key = _parked_key(order_key)
    for _ in range(5):
        record = get_record(key)
        if record is None:
            return
        parked = json.loads(record.payload)
        left = {rid: r for rid, r in parked.items() if rid not in refund_ids}
        if len(left) == len(parked):
            return
        updated = ExternalIdentity(
            identity_key=key,
            member_id=record.member_id,
            platform=record.platform,
            shop=record.shop,
            kind=PARKED_REFUND,
            payload=json.dumps(left, default=str, sort_keys=True),
            created_at=record.created_at,
        )
        if _replace(updated, record):
            return


def shop_page(
    prefix: str, cursor: dict | None, size: int
) -> tuple[list[ExternalIdentity], dict | None]:
    """One page of a Scan of the records whose key starts with ``prefix`` (a shop's
    links: a rare, one-off erasure, never a scheduled job), and the cursor to go on
    from (None: done)."""
    page = ExternalIdentity.scan(
        ExternalIdentity.identity_key.startswith(prefix),
        last_evaluated_key=cursor,
        limit=size,
        page_size=size,
    )
    return list(page), page.last_evaluated_key


def get_record(key: str) -> ExternalIdentity | None:
    try:
        return ExternalIdentity.get(key, consistent_read=True)
    except DoesNotExist:
        return None
