"""Publishing rules that need no AWS: the tier a document needs, and its validation."""

import json

import pytest

from memberflow.config import ConfigError
from memberflow.config.programme import default_document
from memberflow.config.versions import (
    ADVANCED_MAX_BYTES,
    STANDARD_MAX_BYTES,
    PublishRefused,
    parameter_value,
    parse_document,
    publish,
    tier_for,
)


def test_the_tier_is_the_smallest_that_holds_the_document_and_advanced_stays_advanced():
    assert tier_for(STANDARD_MAX_BYTES, None) == "Standard"
    assert tier_for(STANDARD_MAX_BYTES + 1, None) == "Advanced"
    assert tier_for(100, "Standard") == "Standard"
    assert tier_for(100, "Advanced") == "Advanced"  # AWS refuses a move back
    assert tier_for(ADVANCED_MAX_BYTES, "Standard") == "Advanced"
    with pytest.raises(PublishRefused) as refused:
        tier_for(ADVANCED_MAX_BYTES + 1, "Advanced")
    assert refused.value.status == 413 and refused.value.field == "$"


def test_the_stored_value_is_compact_utf8_json_of_the_same_document():
    programme = parse_document(json.dumps(default_document(), indent=2).encode())
    value = parameter_value(programme)
    assert json.loads(value) == default_document()
    assert "\n" not in value and "\\u" not in value  # no indentation, no escaped CJK
    assert len(value.encode()) <= ADVANCED_MAX_BYTES


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (b"\xff{", "$", "UTF-8"),
        (b'{"version": ', "$", "not valid JSON"),
        (json.dumps({**default_document(), "version": ""}).encode(), "$.version", ""),
    ],
)
def test_a_document_is_validated_as_at_start_up_naming_the_path(data, field, says):
    with pytest.raises(ConfigError) as bad:
        parse_document(data)
    assert bad.value.field == field and says in bad.value.rule


def test_a_stack_without_a_programme_parameter_has_nowhere_to_publish():
    with pytest.raises(PublishRefused) as refused:
        publish(None, "", default_document())
    assert refused.value.status == 409 and refused.value.field == "ProgrammeConfigParameter"


def test_only_the_programme_api_may_publish_and_only_to_the_stacks_parameter():
    from memberflow_local.template import Template, check_transform
    from memberflow_local.translated import Translated

    template = Template()
    stack = Translated(
        check_transform(template.path), ProgrammeConfigParameter="/acme/loyalty-programme"
    )
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/acme/loyalty-programme"
    other = "arn:aws:ssm:us-east-1:123456789012:parameter/acme/payroll"
    for action in ("ssm:PutParameter", "ssm:GetParameterHistory"):
        assert stack.allows("ProgrammeApiFunction", action, parameter)
        assert not stack.allows("ProgrammeApiFunction", action, other)
    assert not stack.allows("ProgrammeApiFunction", "ssm:DeleteParameter", parameter)
    for logical_id in template.functions:
        if logical_id != "ProgrammeApiFunction":
            assert not stack.allows(logical_id, "ssm:PutParameter", parameter), logical_id
    routes = {(r.method, r.path): r for r in template.routes if r.path == "/programme"}
    assert set(routes) == {("PUT", "/programme"), ("GET", "/programme")}
    assert all(route.authorised for route in routes.values())  # IAM (SigV4), as operators


def test_a_document_over_8_kb_is_stored_compressed_and_read_back_as_published():
    from memberflow.config.versions import COMPRESSED, parameter_text

    doc = default_document()
    for n in range(60):
        doc["templates"][f"extra_{n}"] = {
            locale: {"subject": "生日快乐", "body": "亲爱的会员，祝您生日快乐！" * 4}
            for locale in doc["programme"]["locales"]
        }
    programme = parse_document(json.dumps(doc))
    value = parameter_value(programme)
    assert value.startswith(COMPRESSED) and len(value.encode()) <= ADVANCED_MAX_BYTES
    assert json.loads(parameter_text(value)) == doc
    plain = parameter_value(parse_document(json.dumps(default_document())))
    assert parameter_text(plain) == plain  # JSON (as published, or put by hand) as is
    with pytest.raises(ConfigError) as bad:
        parameter_text(COMPRESSED + "not base64!")
    assert bad.value.field == "$"
