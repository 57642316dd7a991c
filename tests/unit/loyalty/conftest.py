"""Fixtures for the pure loyalty rules: the default programme and a fitness club."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from memberflow.config.programme import Programme, default_document, validate_document

FITNESS_CLUB = Path(__file__).with_name("fitness_club.json")


@pytest.fixture(scope="session")
def programme() -> Programme:
    return validate_document(default_document())


@pytest.fixture(scope="session")
def fitness() -> Programme:
    return validate_document(json.loads(FITNESS_CLUB.read_text()))


@pytest.fixture()
def variant() -> Callable[..., Programme]:
    """A validated copy of the default document with some sections patched."""

    def make(**patches: dict) -> Programme:
        doc = copy.deepcopy(default_document())
        for section, values in patches.items():
            doc[section].update(values)
        return validate_document(doc)

    return make
