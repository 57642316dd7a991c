"""The OpenAPI description of the routes whose handlers are functions of their own, not
the Powertools resolvers :mod:`memberflow.api.openapi` reads: journey entry, the go-live
import and the KPI reports."""

from __future__ import annotations

from typing import Any

from memberflow.api.http import ERROR_SCHEMA
from memberflow.config.programme import journey_id_pattern


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body of ``schema``."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


JOURNEY_PARAMETER = {
    "name": "journey",
    "in": "path",
    "required": True,
    # any journey the programme configures (journeys are data): its id's pattern
    "schema": {"type": "string", "pattern": journey_id_pattern()},
}
COHORT_STATUS = {
    "type": "object",
    "properties": {
        "cohort_id": {"type": "string"},
        "journey": {"type": "string"},
        "status": {"type": "string", "enum": ["accepted", "enrolling", "enrolled"]},
        "requested": {"type": "integer"},
        "enrolled": {"type": "array", "items": {"type": "string"}},
        "refused": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"member_id": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "started": {"type": "boolean"},
    },
}


# The routes whose handlers are not Powertools resolvers this module can import.
OTHER_ROUTES: dict[str, dict[str, Any]] = {
    "/journeys/{journey}/enrollments": {
        "post": {
            "tags": ["journeys"],
            "summary": "Enrol member ids into a journey as one cohort (answered at once)",
            "description": (
                "The request is recorded on its cohort and enrolled asynchronously; the "
                "cohort key (Idempotency-Key or cohort_key, else a hash of the journey and "
                "the set of ids) makes a retried request the same cohort. Ids refused "
                "(unknown, erased, churned, suppressed, in the journey) are listed by the "
                "status route (docs/journeys/api-entry.md)."
            ),
            "operationId": "enrol_journeys__journey__enrollments_post",
            "parameters": [
                JOURNEY_PARAMETER,
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,48}$"},
                    "description": "The cohort key (the same as cohort_key in the body)",
                },
            ],
            "requestBody": json_body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["member_ids"],
                    "properties": {
                        "member_ids": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 1000,
                            "items": {
                                "type": "string",
                                "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
                            },
                        },
                        "cohort_key": {
                            "type": "string",
                            "pattern": "^[A-Za-z0-9_-]{1,48}$",
                            "description": "Idempotency key of the cohort",
                        },
                    },
                }
            ),
            "responses": {
                "200": {
                    "description": "The same request again, already enrolled: the cohort's status",
                    "content": {"application/json": {"schema": COHORT_STATUS}},
                },
                "202": {
                    "description": "Recorded; enrolled asynchronously (Location: the status route)",
                    "content": {"application/json": {"schema": COHORT_STATUS}},
                },
                "400": _error("Bad body; error.field names it (member_ids[i], cohort_key, ...)"),
                "404": _error("No such journey (path:journey)"),
                "409": _error(
                    "The journey is disabled (path:journey), or the key names a cohort of "
                    "other ids (cohort_key)"
                ),
                "413": _error("Body larger than 128 KiB, or more than 1000 member ids"),
                "415": _error("Content-Type is not application/json (utf-8)"),
                "503": _error("The hand-off failed; the request is recorded, send it again"),
            },
        }
    },
    "/journeys/{journey}/enrollments/{cohort_id}": {
        "get": {
            "tags": ["journeys"],
            "summary": "A cohort entered through the API: its status, enrolled and refused ids",
            "operationId": "cohort_status_journeys__journey__enrollments__cohort_id__get",
            "parameters": [
                JOURNEY_PARAMETER,
                {"name": "cohort_id", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "status accepted | enrolling | enrolled",
                    "content": {"application/json": {"schema": COHORT_STATUS}},
                },
                "404": _error("No such journey (path:journey) or API cohort (path:cohort_id)"),
            },
        }
    },
    "/members/{member_id}/suppression": {
        "put": {
            "tags": ["journeys"],
            "summary": "Suppress a member from (or return them to) every marketing journey",
            "operationId": "suppression_members__member_id__suppression_put",
            "parameters": [
                {"name": "member_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": json_body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["suppressed"],
                    "properties": {"suppressed": {"type": "boolean"}},
                }
            ),
            "responses": {
                "200": {
                    "description": "{member_id, suppressed, suppressed_at}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": _error("Bad body or member id; error.field names it"),
                "404": _error("No such member (path:member_id)"),
                "409": _error("The member is erased (path:member_id)"),
                "413": _error("Body larger than 128 KiB"),
                "415": _error("Content-Type is not application/json (utf-8)"),
            },
        }
    },
    "/imports": {
        "post": {
            "tags": ["imports"],
            "summary": "Go-live import of the existing customer base (JSON Lines)",
            "description": (
                "One customer a line, with their past orders and optionally an opening "
                "point balance (docs/import.md; each line's schema: "
                "shared/memberflow/importing/schemas/customer.json). The whole file is "
                "validated first: a bad line refuses it (400, every bad line with its "
                "number and field) and nothing is written. Stages, tiers and points are "
                "derived from the true dates; no welcome journey. Idempotent on the "
                "platform's customer and order ids: a re-run creates nothing new. A file "
                "of one batch (250 customers, 512 KiB) is imported at once (200); a larger one by "
                "the member import state machine (202; GET /imports/{import_id})."
            ),
            "operationId": "start_import_imports_post",
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-ndjson": {
                        "schema": {
                            "type": "string",
                            "description": (
                                "JSON Lines, UTF-8; each line one customer of the schema "
                                "shared/memberflow/importing/schemas/customer.json"
                            ),
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Imported at once: {status: SUCCEEDED, as_of, result: counts}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "202": {
                    "description": (
                        "Started on the state machine: {import_id, status: RUNNING, "
                        "customers} (Location: the status route)"
                    ),
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": _error(
                    "Bad lines, nothing written: error.line and error.field name the first, "
                    "errors[] lists up to 100 as {line, field, reason}"
                ),
                "413": _error("File larger than 10 MiB: split it"),
                "415": _error(
                    "Content-Type is not JSON Lines (application/x-ndjson, application/jsonl, "
                    "text/plain; UTF-8)"
                ),
            },
        }
    },
    "/imports/{import_id}": {
        "get": {
            "tags": ["imports"],
            "summary": "An import run by the state machine: its status and counts",
            "operationId": "import_status_imports__import_id__get",
            "parameters": [
                {"name": "import_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "{import_id, status: RUNNING | SUCCEEDED | FAILED, result}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "404": _error("No such import (import_id)"),
            },
        }
    },
    "/reports/kpis/snapshots": {
        "post": {
            "tags": ["reports"],
            "summary": "Ask for a fresh KPI snapshot (computed asynchronously)",
            "operationId": "snapshot_reports_kpis_snapshots_post",
            "responses": {
                "202": {
                    "description": "{requested_at, status_url}: GET /reports/kpis shows it when done",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/reports/kpis": {
        "get": {
            "tags": ["reports"],
            "summary": "Programme KPIs, journey funnels by arm, uplift against the holdout",
            "operationId": "kpis_reports_kpis_get",
            "responses": {
                "200": {
                    "description": "The newest KPI snapshot (docs/reports.md)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "404": _error("No snapshot yet (snapshot): POST /reports/kpis/snapshots"),
            },
        }
    },
}
