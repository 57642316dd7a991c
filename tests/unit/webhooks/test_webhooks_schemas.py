"""The published JSON Schemas are valid draft 2020-12, shipped as package data, and
their examples match the sample payloads."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

SCHEMAS = resources.files("memberflow.webhooks").joinpath("schemas")
PAYLOADS = Path(__file__).resolve().parents[3] / "events" / "payloads" / "memberflow"
TYPES = ["member.upserted", "order.paid", "order.refunded", "interaction", "consent.changed"]


def all_schema_files() -> list[str]:
    out = []
    for entry in SCHEMAS.iterdir():
        if entry.is_dir():
            out += [f"{entry.name}/{f.name}" for f in entry.iterdir() if f.name.endswith(".json")]
        elif entry.name.endswith(".json"):
            out.append(entry.name)
    return sorted(out)


def load(name: str) -> dict:
    return json.loads(SCHEMAS.joinpath(name).read_text("utf-8"))


def test_every_published_type_has_a_schema():
    names = set(all_schema_files())
    assert {f"{t}.schema.json" for t in TYPES} | {"envelope.schema.json"} <= names
    assert len(names) == 16


@pytest.mark.parametrize("name", all_schema_files())
def test_schema_is_valid_draft_2020_12(name):
    schema = load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].startswith("urn:memberflow:webhooks:")


@pytest.mark.parametrize("kind", TYPES)
def test_examples_are_the_samples_and_valid(kind):
    schema = load(f"{kind}.schema.json")
    sample = json.loads((PAYLOADS / f"{kind}.json").read_text())
    assert schema["examples"] == [sample]
    Draft202012Validator(schema).validate(sample)
    Draft202012Validator(load("envelope.schema.json")).validate(sample)


def test_readme_documents_every_type():
    readme = SCHEMAS.joinpath("README.md").read_text("utf-8")
    for kind in TYPES:
        assert f"## `{kind}`" in readme and f"{kind}.schema.json" in readme
        sample = json.loads((PAYLOADS / f"{kind}.json").read_text())
        assert json.dumps(sample, indent=2) in readme  # the example is the sample, verbatim
