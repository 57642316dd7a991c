"""Privacy topics: data requests are recorded (ids only) and answered by the member
export; redactions take the same erasure path as ``DELETE /members/{id}``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from memberflow.ingest.resolve import find_member
from memberflow.members.identity import identity_key
from memberflow.members.privacy import erase_member
from memberflow.store import identities, member_changes
from memberflow.webhooks.events import PrivacyRequest

log = logging.getLogger(__name__)


def apply_privacy(event: PrivacyRequest, *, now: datetime) -> list[str]:
    """Returns the ids of the members concerned."""
    if event.kind == "shop_redact":
        return _redact_shop(event, now)
    member = find_member(
        platform=event.platform, shop=event.shop, customer_id=event.customer_id, email=event.email
    )
    if member is not None and not _known_to(member.member_id, event):
        # matched by email only: a shop may ask about (or erase) the people it knows,
        # not a member known only through another source
        member = None
    member_id = member.member_id if member is not None else None
    identities.record_privacy_request(
        platform=event.platform,
        shop=event.shop,
        kind=event.kind,
        request_id=event.request_id,
        member_id=member_id,
        now=now,
    )
    if member_id is None:
        log.info("privacy request for no known member", extra={"request_id": event.request_id})
        return []
    if event.kind == "data_request":
        # The data is available at GET /members/{member_id}/export (IAM-authorised).
        log.info(
            "data request recorded; export available",
            extra={"request_id": event.request_id, "member_id": member_id},
        )
    else:
        erase_member(member_id, now=now)
    return [member_id]


def _known_to(member_id: str, event: PrivacyRequest) -> bool:
    """Whether the member has an identity at this source (platform and shop). The
    customer's own identity is read by key (consistent: a request right after the
    sign-up sees it); only a request without a customer id reads the member's index."""
    if event.customer_id:
        key = identity_key(event.platform, event.shop, event.customer_id)
        link = identities.get_record(key)
        if link is not None and link.member_id == member_id:
            return True
    prefix = identity_key(event.platform, event.shop, "")
    return any(r.identity_key.startswith(prefix) for r in identities.identities_of(member_id))


def _redact_shop(event: PrivacyRequest, now: datetime) -> list[str]:
    """The shop uninstalled memberflow: record the request and hand the erasure to the
    shop-erasure function (asynchronous; a scan of the identities table does not fit in
    the webhook's 10 s). No member is erased before this returns."""
    identities.record_privacy_request(
        platform=event.platform,
        shop=event.shop,
        kind=event.kind,
        request_id=event.request_id,
        member_id=None,
        now=now,
    )
    from memberflow.runtime import app_context

    app_context().start_shop_erasure(
        {"platform": event.platform, "shop": event.shop, "request_id": event.request_id}
    )
    return []


SHOP_PAGE = 100  # identity links read per Scan page


def redact_shop(
    platform: str,
    shop: str | None,
    *,
    now: datetime,
    cursor: dict | None = None,
    has_time: Callable[[], bool] = lambda: True,
) -> tuple[list[str], dict | None]:
    """Drop the shop's identity links; erase the members known through no other shop.
    Pages through a Scan of the identities table (filtered to the shop: a rare, one-off
    event, never a scheduled job) from ``cursor`` while ``has_time()``; returns the
    members erased and the cursor to go on from (None: done)."""
    prefix = f"{platform}#{(shop or '-').lower()}#"
    erased: list[str] = []
    while True:
        page, following = identities.shop_page(prefix, cursor, SHOP_PAGE)
        for link in page:
            if not identities.is_identity(link):
                continue
            member_id = link.member_id
            others = [
                r
                for r in identities.identities_of(member_id)
                if r.identity_key != link.identity_key
            ]
            if others:
                identities.unlink(link, member_id, now)
                member_changes.forget_identity(member_id, link.identity_key)
                continue
            erase_member(member_id, now=now)
            erased.append(member_id)
        cursor = following
        if cursor is None or not has_time():
            return erased, cursor
