"""A programme read from SSM is read again once it is max_age old (virtual clock)."""

import json
from datetime import timedelta

import pytest

from memberflow import runtime
from memberflow.config.programme import default_document

PARAMETER = "/memberflow/programme"


@pytest.fixture
def programme_parameter(stack, monkeypatch):
    doc = default_document()
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))  # as published
    ssm = stack.client("ssm")
    # Over the Standard tier's 4 KB: docs/deploy.md says Advanced.
    assert len(text.encode()) > 4096
    ssm.put_parameter(Name=PARAMETER, Value=text, Type="String", Tier="Advanced")
    monkeypatch.setenv("PROGRAMME_CONFIG_PARAMETER", PARAMETER)
    runtime.reset()
    yield ssm, doc
    runtime.reset()


def test_a_changed_programme_parameter_is_read_again_after_max_age(stack, programme_parameter):
    ssm, doc = programme_parameter

    def put(document: dict) -> None:
        ssm.put_parameter(
            Name=PARAMETER,
            # SSM's 8 KB: as published (compact, UTF-8)
            Value=json.dumps(document, ensure_ascii=False, separators=(",", ":")),
            Type="String",
            Tier="Advanced",
            Overwrite=True,
        )

    assert runtime.app_context().programme.version == doc["version"]
    put({**doc, "version": "2026-12-01.1"})
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE - timedelta(seconds=1))
    assert runtime.app_context().programme.version == doc["version"]  # still cached
    stack.clock.advance(timedelta(seconds=1))
    assert runtime.app_context().programme.version == "2026-12-01.1"

    # A change that fails validation is refused; the last valid programme stays.
    put({**doc, "version": "2026-12-02.1", "stages": "not an object"})
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)
    assert runtime.app_context().programme.version == "2026-12-01.1"
