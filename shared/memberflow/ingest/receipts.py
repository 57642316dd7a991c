"""A delivery's receipt is kept in the store (:mod:`memberflow.store.receipts`); these
names stay for the callers outside ingest/ (runtime, ingest.customers) until they
import it there."""

from memberflow.store.receipts import (  # noqa: F401
    COMPLETED,
    IDEMPOTENCY_SECONDS,
    INPROGRESS,
    DeliveryFinished,
    DeliveryRaced,
    DeliveryRecord,
    Receipt,
    bind,
    is_live,
    live,
)
