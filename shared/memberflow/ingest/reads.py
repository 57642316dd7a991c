"""A delivery's one keyed read is made by the store (:mod:`memberflow.store.reads`);
these names stay for ingest.customers until it imports it there."""

from memberflow.store.reads import BATCH_KEYS, Reads, read  # noqa: F401
