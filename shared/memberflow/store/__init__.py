"""Data access: PynamoDB models and the few operations that need transactions."""

from memberflow.store.models import (
    Cohort,
    Coupon,
    Enrolment,
    ExternalIdentity,
    LedgerEntry,
    Member,
    Message,
    Order,
    bind_tables,
)

__all__ = [
    "Cohort",
    "Coupon",
    "Enrolment",
    "ExternalIdentity",
    "LedgerEntry",
    "Member",
    "Message",
    "Order",
    "bind_tables",
]
