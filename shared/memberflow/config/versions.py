"""Publishing a programme version: the document validated, then a new version of the SSM
parameter the functions read (docs/publishing.md).

One rule keeps the pin meaningful: a cohort pins the document's ``version`` (with its
content fingerprint and the journey's whole configuration, journeys/engine.pinned_config),
so each ``version`` name is published with one content only. Publishing the content that
is already current creates no SSM version (a retried publish is a no-op); publishing an
earlier version's exact content again (a rollback) is a new SSM version of it.

Size: SSM holds at most 4 KB in the Standard tier and 8 KB in the Advanced tier. AWS's
message says "characters"; here the UTF-8 bytes are counted, never fewer than the
characters, so nothing published here is refused by AWS for its size. An Advanced
parameter stays Advanced (AWS refuses to move one back to Standard). A document whose
compact JSON is over 8 KB is stored gzip-compressed and base64-encoded behind
:data:`COMPRESSED` (a programme with many journeys and locales: JSON compresses about
three to one); :func:`parameter_text` gives the JSON back whichever way it was stored.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import asdict, dataclass
from typing import Any

from memberflow.config.programme import ConfigError, Programme, validate_document

STANDARD_MAX_BYTES = 4096
ADVANCED_MAX_BYTES = 8192
# A stored value starting with this is base64 of the gzip of the document's JSON.
COMPRESSED = "gzip:"
# Far above any programme: bounds what a stored value may expand to.
MAX_DOCUMENT_BYTES = 1024 * 1024


class PublishRefused(ValueError):
    """The document cannot be published: ``status`` (HTTP), ``field`` (a JSON path or
    ``$``) and ``reason``; nothing was written."""

    def __init__(self, status: int, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason = status, field, reason


@dataclass(frozen=True)
class PublishedVersion:
    """One published version: the SSM parameter's ``ssm_version`` holds the programme
    ``version`` (its content ``fingerprint``)."""

    parameter: str
    ssm_version: int
    version: str
    fingerprint: str
    tier: str
    changed: bool = True  # False: that content was current already, nothing written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parameter_value(programme: Programme) -> str:
    """The text stored in SSM: compact JSON, UTF-8 as is (readable in the console);
    compressed when that is over the Advanced tier's 8 KB."""
    text = json.dumps(programme.doc, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode("utf-8")) <= ADVANCED_MAX_BYTES:
        return text
    packed = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    return COMPRESSED + base64.b64encode(packed).decode("ascii")


def parameter_text(value: str) -> str:
    """The document's JSON from a stored value (as published, or JSON put by hand)."""
    if not value.startswith(COMPRESSED):
        return value
    try:
        packed = base64.b64decode(value[len(COMPRESSED) :], validate=True)
        inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # gzip framing
        data = inflate.decompress(packed, MAX_DOCUMENT_BYTES)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError("truncated, or over the size bound")
        return data.decode("utf-8")
    except (ValueError, zlib.error) as bad:  # binascii.Error and UnicodeError are ValueErrors
        raise ConfigError("$", f"stored value is not valid gzip+base64 JSON ({bad})") from None


def parse_document(text: str | bytes) -> Programme:
    """The programme in ``text``, validated as at start-up (:class:`ConfigError` naming
    the JSON path)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("$", "is not UTF-8") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("$", f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return validate_document(doc)


def tier_for(size: int, current_tier: str | None) -> str:
    if size > ADVANCED_MAX_BYTES:
        raise PublishRefused(
            413,
            "$",
            f"is {size} bytes even compressed; an SSM parameter holds at most "
            f"{ADVANCED_MAX_BYTES} (Advanced tier)",
        )
    if size > STANDARD_MAX_BYTES or current_tier == "Advanced":
        return "Advanced"
    return "Standard"


def history(ssm, parameter: str) -> list[dict]:
    """Every stored version of ``parameter``, oldest first ([] if it does not exist)."""
    out: list[dict] = []
    kwargs: dict[str, Any] = {"Name": parameter, "MaxResults": 50}
    try:
        while True:
            page = ssm.get_parameter_history(**kwargs)
            out.extend(page["Parameters"])
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]
    except ssm.exceptions.ParameterNotFound:
        return []


def _describe(parameter: str, entry: dict) -> PublishedVersion | None:
    try:
        published = parse_document(parameter_text(entry["Value"]))
    except ConfigError:
        return None  # written by hand, and not a valid programme: names nothing
    return PublishedVersion(
        parameter=parameter,
        ssm_version=int(entry["Version"]),
        version=published.version,
        fingerprint=published.fingerprint,
        tier=entry.get("Tier", "Standard"),
    )


def current(ssm, parameter: str) -> PublishedVersion | None:
    """The parameter's latest version, as a programme (None if absent or not valid)."""
    versions = history(ssm, parameter)
    return _describe(parameter, versions[-1]) if versions else None


def publish(ssm, parameter: str, document: str | bytes | dict) -> PublishedVersion:
    """Validate ``document`` and publish it as a new version of ``parameter``.

    Raises :class:`ConfigError` (the document is invalid) or :class:`PublishRefused`
    (too large, or its ``version`` name already published with other content); in
    either case nothing is written."""
    if not parameter:
        raise PublishRefused(
            409,
            "ProgrammeConfigParameter",
            "the stack reads the bundled programme: deploy it with an SSM parameter to publish to",
        )
    programme = (
        validate_document(document) if isinstance(document, dict) else parse_document(document)
    )
    value = parameter_value(programme)
    versions = history(ssm, parameter)
    described = [_describe(parameter, entry) for entry in versions]
    latest = described[-1] if described else None
    if latest is not None and latest.fingerprint == programme.fingerprint:
        return PublishedVersion(**{**latest.as_dict(), "changed": False})
    for earlier in described:
        if (
            earlier is not None
            and earlier.version == programme.version
            and earlier.fingerprint != programme.fingerprint
        ):
            raise PublishRefused(
                409,
                "$.version",
                f"'{programme.version}' is already published (SSM version "
                f"{earlier.ssm_version}) with other content: give this document a new version",
            )
    tier = tier_for(len(value.encode("utf-8")), versions[-1].get("Tier") if versions else None)
    answer = ssm.put_parameter(
        Name=parameter, Value=value, Type="String", Overwrite=True, Tier=tier
    )
    return PublishedVersion(
        parameter=parameter,
        ssm_version=int(answer["Version"]),
        version=programme.version,
        fingerprint=programme.fingerprint,
        tier=answer.get("Tier", tier),
    )


def _refusal(description: str) -> dict[str, Any]:
    # memberflow.api.openapi gives every 4xx the one error schema
    return {"description": description, "content": {"application/json": {"schema": {}}}}


_VERSION_SCHEMA = {
    "type": "object",
    "properties": {
        "parameter": {"type": "string"},
        "ssm_version": {"type": "integer"},
        "version": {"type": "string"},
        "fingerprint": {"type": "string"},
        "tier": {"type": "string", "enum": ["Standard", "Advanced"]},
        "changed": {"type": "boolean"},
    },
}
# The programme routes (functions/programme_api), for memberflow.api.openapi.
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/programme": {
        "put": {
            "tags": ["programme"],
            "summary": "Publish a programme version (validated; a new SSM parameter version)",
            "description": (
                "The programme document (shared/memberflow/config/programme.schema.json), "
                "validated as at start-up, published as a new version of the SSM parameter "
                "the functions read; they use it within 5 minutes. Cohorts already in a "
                "journey finish on the version they pinned (docs/publishing.md)."
            ),
            "operationId": "publish_programme_programme_put",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "201": {
                    "description": "Published: {parameter, ssm_version, version, fingerprint, tier, changed: true}",
                    "content": {"application/json": {"schema": _VERSION_SCHEMA}},
                },
                "200": {
                    "description": "That content is current already: nothing written (changed: false)",
                    "content": {"application/json": {"schema": _VERSION_SCHEMA}},
                },
                "400": _refusal(
                    "Not a valid programme: error.field is the JSON path under body, "
                    "error.reason the rule; nothing published"
                ),
                "409": _refusal(
                    "body.version already published with other content, or the stack has "
                    "no programme parameter (ProgrammeConfigParameter)"
                ),
                "413": _refusal("Body over 64 KiB, or over SSM's 8 KB even compressed"),
                "415": _refusal("Content-Type is not application/json (utf-8)"),
            },
        },
        "get": {
            "tags": ["programme"],
            "summary": "The published programme version",
            "operationId": "published_programme_programme_get",
            "responses": {
                "200": {
                    "description": "{parameter, ssm_version, version, fingerprint, tier}",
                    "content": {"application/json": {"schema": _VERSION_SCHEMA}},
                },
                "404": _refusal("No programme parameter, or no valid programme in it"),
            },
        },
    }
}


__all__ = [
    "ADVANCED_MAX_BYTES",
    "COMPRESSED",
    "OPENAPI_PATHS",
    "STANDARD_MAX_BYTES",
    "PublishRefused",
    "PublishedVersion",
    "current",
    "history",
    "parameter_text",
    "parameter_value",
    "parse_document",
    "publish",
]
