"""The OpenAPI document of memberflow's HTTP API: the member API and the webhook routes.

Generated with Powertools (``get_openapi_schema`` of both resolvers, merged), plus the
request bodies the routes read themselves and the routes of the journey-entry and
report functions (thin handlers of their own). ``docs/openapi.json`` is this document
checked in; one test keeps the two equal, another checks that every route of
template.yaml is documented with its body and errors. Regenerate with::

    .venv/bin/python -m memberflow.api.openapi > docs/openapi.json

pydantic is imported here only (GET /openapi.json), never on the webhook path.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

from memberflow.api.members import ERROR_SCHEMA
from memberflow.config.programme import JOURNEYS

TITLE = "memberflow"
VERSION = "1.0.0"
DESCRIPTION = (
    "Member-lifecycle automation for loyalty programmes. The member API is IAM (SigV4) "
    "authorised; the webhook routes authenticate each delivery by its platform's "
    'signature. Errors are {"error": {"status", "field", "reason"}} (docs/api-errors.md).'
)
IAM_REFUSAL = {
    "description": (
        "Missing or invalid SigV4 signature, or not allowed by IAM (API Gateway answers "
        '{"message": ...} before memberflow runs)'
    ),
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"message": {"type": "string"}}}
        }
    },
}
SCHEMA_DOCS = "shared/memberflow/webhooks/schemas/README.md"


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body of ``schema``."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/members/{member_id}/consent", "patch"): _json_body(
        {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {"email": {"type": "boolean"}, "sms": {"type": "boolean"}},
        }
    ),
    ("/members/{member_id}/points/redeem", "post"): _json_body(
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["points", "reference"],
            "properties": {
                "points": {"type": "integer", "minimum": 1, "maximum": 10**9},
                "reference": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9][A-Za-z0-9._:#/-]{0,127}$",
                    "description": "Idempotency key of the redemption (e.g. the POS receipt)",
                },
                "shop": {
                    "type": "string",
                    "maxLength": 2048,
                    "description": (
                        "The shop to pay the code out in (its domain or site URL); needed "
                        "only when the member is a customer of several shops that create codes"
                    ),
                },
            },
        }
    ),
}

# Response bodies the routes shape themselves (Powertools documents them as any object).
REDEMPTION = {
    "type": "object",
    "required": ["member_id", "reference", "points", "value", "balance", "discount"],
    "properties": {
        "member_id": {"type": "string"},
        "reference": {"type": "string"},
        "points": {"type": "integer", "description": "points taken"},
        "value": {"type": "string", "description": "their value in currency units (decimal)"},
        "balance": {"type": "integer"},
        "redeemed_at": {"type": "string", "format": "date-time"},
        "replayed": {"type": "boolean", "description": "a retry of an earlier redemption"},
        "discount": {
            "description": "the code paid out in the member's shop; null when none creates codes",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["code", "shop", "kind", "value", "expires_at"],
                    "properties": {
                        "code": {"type": "string"},
                        "shop": {"type": "string"},
                        "kind": {"type": "string", "enum": ["fixed_amount"]},
                        "value": {"type": "string", "description": "amount off (decimal)"},
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
            ],
        },
    },
}
RESPONSE_BODIES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/members/{member_id}/points/redeem", "post", "200"): REDEMPTION,
}
RESPONSE_HEADERS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/members/{member_id}/points/redeem", "post", "503"): {
        "Retry-After": {
            "description": "seconds to wait before retrying with the same reference",
            "schema": {"type": "integer"},
        }
    },
}

WEBHOOK_BODY = {
    "/webhooks/shopify": "Shopify's payload for the topic in X-Shopify-Topic (raw bytes are signed)",
    "/webhooks/woocommerce": "WooCommerce's payload for X-WC-Webhook-Topic (raw bytes are signed)",
    "/webhooks/events": f"memberflow event envelope, see {SCHEMA_DOCS}",
}
SIGNATURE_HEADERS = {
    "/webhooks/shopify": [
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Topic",
        "X-Shopify-Shop-Domain",
        "X-Shopify-Event-Id",
        "X-Shopify-Webhook-Id",
    ],
    "/webhooks/woocommerce": [
        "X-WC-Webhook-Signature",
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-Delivery-ID",
    ],
    "/webhooks/events": ["webhook-id", "webhook-timestamp", "webhook-signature"],
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


JOURNEY_PARAMETER = {
    "name": "journey",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": list(JOURNEYS)},
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
            "requestBody": _json_body(
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
            "requestBody": _json_body(
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


def build_document() -> dict[str, Any]:
    from memberflow.api import members, webhooks

    docs = []
    for module in (members, webhooks):
        app = module.build_app()
        docs.append(
            json.loads(
                app.get_openapi_json_schema(title=TITLE, version=VERSION, description=DESCRIPTION)
            )
        )
    merged = docs[0]
    for path, item in docs[1]["paths"].items():
        merged["paths"][path] = item
    for name, schema in docs[1].get("components", {}).get("schemas", {}).items():
        merged.setdefault("components", {}).setdefault("schemas", {})[name] = schema
    from memberflow.config.versions import OPENAPI_PATHS

    for path, item in {**OTHER_ROUTES, **OPENAPI_PATHS}.items():
        merged["paths"][path] = json.loads(json.dumps(item))
    for (path, method), body in REQUEST_BODIES.items():
        merged["paths"][path][method]["requestBody"] = body
    for (path, method, status), schema in RESPONSE_BODIES.items():
        response = merged["paths"][path][method]["responses"][status]
        response["content"] = {"application/json": {"schema": schema}}
    for (path, method, status), headers in RESPONSE_HEADERS.items():
        merged["paths"][path][method]["responses"][status]["headers"] = headers
    for path, text in WEBHOOK_BODY.items():
        operation = merged["paths"][path]["post"]
        operation["requestBody"] = {
            "required": True,
            "description": text,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        operation["parameters"] = [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in SIGNATURE_HEADERS[path]
        ]
        operation["security"] = []
    merged["components"].setdefault("securitySchemes", {})["sigv4"] = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    merged["security"] = [{"sigv4": []}]
    merged["paths"]["/openapi.json"]["get"]["security"] = []
    for item in merged["paths"].values():
        for operation in item.values():
            if operation.get("security") != []:
                operation["responses"]["403"] = IAM_REFUSAL
            # memberflow's own refusals all have one shape (the webhook resolver
            # declares descriptions only)
            for code, response in operation["responses"].items():
                if code[0] in "45" and code != "403":
                    response["content"] = {"application/json": {"schema": ERROR_SCHEMA}}
    # Validation is the routes' own (errors in memberflow's format): Powertools' 422
    # answer never happens, so neither it nor its schemas are described.
    for item in merged["paths"].values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = merged["components"].get("schemas", {})
    for name in ("HTTPValidationError", "ResponseValidationError", "ValidationError"):
        schemas.pop(name, None)
    if not schemas:
        merged["components"].pop("schemas", None)
    merged["paths"] = dict(sorted(merged["paths"].items()))
    return merged


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def document() -> str:
    return render(build_document())


def main(argv: list[str] | None = None) -> int:
    sys.stdout.write(document())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
