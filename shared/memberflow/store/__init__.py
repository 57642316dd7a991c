"""Data access, and the only package that imports PynamoDB: the models, the member's
unit of work (``unit_of_work``), its one write path outside it (``members``) and a
repository per table concern (docs/architecture.md, "Layers")."""

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
