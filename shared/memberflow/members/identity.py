"""Who is this? (platform, shop, customer id) first, then normalised email."""

from __future__ import annotations

import hashlib
import secrets

from memberflow.store.identities import suppression_key  # noqa: F401 (its callers' name)


def normalise_email(email: str | None) -> str | None:
    if not email:
        return None
    email = email.strip().lower()
    return email or None


def email_hash(email: str | None) -> str | None:
    """The key of the by_email index and of suppression records: no address in an index."""
    normal = normalise_email(email)
    return hashlib.sha256(normal.encode()).hexdigest() if normal else None


def identity_key(platform: str, shop: str | None, customer_id: str) -> str:
    return f"{platform}#{(shop or '-').lower()}#{customer_id}"


def new_member_id(seed: str | None = None, attempt: int = 0) -> str:
    """Derived from the first identity, so concurrent first deliveries agree on the id.

    ``attempt`` > 0 picks another id when the derived one is taken (an erased member
    whose customer signs up again); without a seed the id is random.
    """
    if seed is None:
        return "mbr_" + secrets.token_hex(10)
    return "mbr_" + hashlib.sha256(f"{seed}#{attempt}".encode()).hexdigest()[:20]
