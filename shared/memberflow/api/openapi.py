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

from memberflow.api.http import ERROR_SCHEMA
from memberflow.api.openapi_routes import OTHER_ROUTES, json_body

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


REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/members/{member_id}/consent", "patch"): json_body(
        {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {"email": {"type": "boolean"}, "sms": {"type": "boolean"}},
        }
    ),
    ("/members/{member_id}/points/redeem", "post"): json_body(
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
