"""Load and validate the programme configuration document.

Every business number (stage thresholds, tiers, points, journeys, send windows) lives
in this document; code reads it through :class:`Programme`. The JSON Schema catches
shape errors; :func:`_check_rules` catches the rules a schema cannot express. Either
way the error names the field (a JSON path) and the rule it broke.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

# The journeys the default programme ships with. Journeys are an open map of the
# configuration (any id); code starts what ``journeys.<id>.entry`` declares
# (memberflow.config.triggers), never a name from this tuple.
JOURNEYS = ("welcome", "activation", "dormancy_recall", "winback")


class ConfigError(ValueError):
    """The programme configuration is invalid; ``field`` is a JSON path."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"programme configuration: {field}: {rule}")
        self.field = field
        self.rule = rule


@cache
def _schema() -> dict:
    return json.loads(
        resources.files("memberflow.config").joinpath("programme.schema.json").read_text()
    )


def journey_id_pattern() -> str:
    """A journey id, as the programme schema admits the keys of ``journeys``."""
    return _schema()["properties"]["journeys"]["propertyNames"]["pattern"]


def default_document() -> dict:
    return json.loads(
        resources.files("memberflow.config").joinpath("programme.default.json").read_text()
    )


def _path(error: jsonschema.ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _check_rules(doc: dict) -> None:
    try:
        ZoneInfo(doc["programme"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("$.programme.timezone", "must be an IANA time zone name") from None
    if doc["programme"]["locale"] not in doc["programme"]["locales"]:
        raise ConfigError("$.programme.locale", "must be one of programme.locales")
    ladder = doc["tiers"]["ladder"]
    if ladder[0]["threshold"] != 0:
        raise ConfigError("$.tiers.ladder[0].threshold", "the base tier must start at 0")
    for i in range(1, len(ladder)):
        if ladder[i]["threshold"] <= ladder[i - 1]["threshold"]:
            raise ConfigError(f"$.tiers.ladder[{i}].threshold", "thresholds must increase")
    names = [t["name"] for t in ladder]
    if len(set(names)) != len(names):
        raise ConfigError("$.tiers.ladder", "tier names must be unique")
    window = doc["messaging"]["send_window"]
    if window["start"] >= window["end"]:
        raise ConfigError("$.messaging.send_window.end", "must be later than start")
    for name, journey in doc["journeys"].items():
        tier = journey["entry"].get("tier")
        if tier is not None and tier not in names:
            raise ConfigError(f"$.journeys.{name}.entry.tier", "must be a tier of tiers.ladder")
        ids = [s["id"] for s in journey["steps"]]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"$.journeys.{name}.steps", "step ids must be unique")
        for i, step in enumerate(journey["steps"]):
            for template in [step["template"], *step.get("variants", [])]:
                if template not in doc["templates"]:
                    raise ConfigError(
                        f"$.journeys.{name}.steps[{i}].template",
                        f"template '{template}' is not defined in templates",
                    )
                for locale in doc["programme"]["locales"]:
                    if locale not in doc["templates"][template]:
                        raise ConfigError(
                            f"$.templates.{template}", f"has no text for locale '{locale}'"
                        )


def _check_sources(doc: dict) -> None:
    """One secret per source (the secret is what tells sources apart), each source once."""
    seen_refs: dict[str, str] = {}
    seen_names: set[tuple[str, str]] = set()
    for kind, name_field in (
        ("shopify", "shop"),
        ("woocommerce", "site"),
        ("standard_webhooks", "sender"),
    ):
        for i, entry in enumerate(doc.get("sources", {}).get(kind) or []):
            path = f"$.sources.{kind}[{i}]"
            name = entry[name_field].lower().rstrip("/")
            if (kind, name) in seen_names:
                raise ConfigError(f"{path}.{name_field}", "is configured twice")
            seen_names.add((kind, name))
            if entry["secret"] in seen_refs:
                raise ConfigError(
                    f"{path}.secret", f"shares its secret with {seen_refs[entry['secret']]}"
                )
            seen_refs[entry["secret"]] = path
            discounts = entry.get("discounts") or {}
            if kind == "shopify" and discounts.get("api_version", "2025-10") < "2025-10":
                # memberflow sends DiscountCodeBasicInput.context, new in 2025-10
                raise ConfigError(f"{path}.discounts.api_version", "must be 2025-10 or later")
            if (
                kind == "woocommerce"
                and discounts.get("create")
                and not entry["site"].lower().startswith("https://")
            ):
                raise ConfigError(
                    f"{path}.site",
                    "creating coupons needs an https:// site (WooCommerce takes REST keys over HTTPS only)",
                )


@dataclass(frozen=True)
class Programme:
    """A validated programme configuration (read-only)."""

    doc: dict

    @property
    def version(self) -> str:
        return self.doc["version"]

    @property
    def fingerprint(self) -> str:
        """Content hash: two documents with the same version but different rules differ here."""
        raw = json.dumps(self.doc, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:12]

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.doc["programme"]["timezone"])

    def section(self, name: str) -> Any:
        return self.doc[name]

    @property
    def stages(self) -> dict:
        return self.doc["stages"]

    @property
    def points(self) -> dict:
        return self.doc["points"]

    @property
    def tiers(self) -> dict:
        return self.doc["tiers"]

    @property
    def messaging(self) -> dict:
        return self.doc["messaging"]

    @property
    def rfm(self) -> dict:
        return self.doc["rfm"]

    @property
    def sources(self) -> dict:
        """The webhook senders accepted (absent: none; every delivery is refused)."""
        return self.doc.get("sources") or {}

    @property
    def templates(self) -> dict:
        return self.doc["templates"]

    @property
    def journeys(self) -> dict:
        """Every configured journey by id (built in or not)."""
        return self.doc["journeys"]

    def journey(self, name: str) -> dict:
        if name not in self.doc["journeys"]:
            raise KeyError(f"unknown journey '{name}'")
        return self.doc["journeys"][name]

    @property
    def base_tier(self) -> str:
        return self.doc["tiers"]["ladder"][0]["name"]

    def tier(self, name: str) -> dict:
        for tier in self.doc["tiers"]["ladder"]:
            if tier["name"] == name:
                return tier
        return self.doc["tiers"]["ladder"][0]


# JSON Schema's "integer" admits 12.0: strict here, so a count (of months, days, ...) is
# an int where the rules compute with it; a whole 12.0 is taken as 12 (_whole_numbers).
_STRICT = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def _type_errors(errors) -> Any:
    for error in errors:
        yield error
        yield from _type_errors(error.context or ())  # the branches of oneOf / anyOf


def _whole_numbers(doc: Any, errors: list) -> bool:
    """Write a whole number given as a float (12.0) where the schema asks for an integer
    as that integer, in place; anything else is left for validation to refuse. True when
    the document changed."""
    found = False
    for error in _type_errors(errors):
        wanted = error.validator_value if error.validator == "type" else ()
        value = error.instance
        if (
            "integer" in ([wanted] if isinstance(wanted, str) else wanted)
            and isinstance(value, float)
            and value.is_integer()
            and error.absolute_path
        ):
            *parents, last = error.absolute_path
            target = doc
            for part in parents:
                target = target[part]
            target[last], found = int(value), True
    return found


def validate_document(doc: Any) -> Programme:
    """Validate a parsed document; raise :class:`ConfigError` naming the field."""
    validator = _STRICT(_schema())
    errors = list(validator.iter_errors(doc))  # a valid document: this one pass
    for _ in range(3):  # a branch (if/oneOf) may only apply once a number is whole
        if not errors or not _whole_numbers(doc, errors):
            break
        errors = list(validator.iter_errors(doc))
    errors.sort(key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_path(best), f"{best.message} (rule: {best.validator})")
    _check_rules(doc)
    _check_sources(doc)
    return Programme(doc=doc)


def load_programme(source: str | Path | None = None) -> Programme:
    """Load the document from a file path, a JSON string, or the bundled defaults."""
    if source is None or source == "":
        return validate_document(default_document())
    text = str(source)
    if text.lstrip().startswith("{"):
        raw = text
    else:
        path = Path(text)
        if not path.is_file():
            raise ConfigError("$", f"configuration file '{path}' does not exist")
        raw = path.read_text()
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError("$", f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return validate_document(doc)
