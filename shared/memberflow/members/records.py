"""The identities table's records (identity links, suppression, privacy requests,
parked refunds) are in :mod:`memberflow.store.identities`; these names stay for the
callers outside members/ (journeys, ingest.customers) until they import it there."""

from memberflow.store.identities import (  # noqa: F401
    DATA_REQUEST,
    DATA_REQUEST_DUE,
    DATA_REQUEST_PREFIX,
    DATA_REQUESTS_OWNER,
    PARKED_REFUND,
    PRIVACY_REQUEST,
    SUPPRESSION,
    data_requests,
    get_record,
    identities_of,
    is_erased_identity,
    is_identity,
    park_refund,
    parked_from,
    parked_key,
    parked_refunds,
    record_privacy_request,
    records_of,
    suppress,
    tombstone,
    tombstone_key,
    unpark_refunds,
)
