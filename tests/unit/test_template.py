"""template.yaml is the one declaration: it lints, transforms, and everything it names exists."""

import json
import re

import pytest

from memberflow_local.template import Template, check_transform, substitute_definition


@pytest.fixture(scope="module")
def template():
    return Template()


def test_passes_cfn_lint_with_no_errors(template):
    from cfnlint.api import lint_file

    matches = lint_file(template.path)
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(str(m) for m in errors)


def test_transforms_offline_with_the_sam_translator(template):
    out = check_transform(template.path)
    types = {r["Type"] for r in out["Resources"].values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::Scheduler::Schedule",
        "AWS::ApiGateway::RestApi",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::LayerVersion",
    } <= types


def test_functions_are_python312_arm64_with_the_layer(template):
    assert template.globals["Runtime"] == "python3.12"
    assert template.globals["Architectures"] == ["arm64"]
    layer = template.resources["MemberflowLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    for spec in template.functions.values():
        assert (spec.code_uri / "app.py").is_file(), spec.logical_id


def test_review_date_index_is_declared_sparse_and_sharded(template):
    members = template.tables["MembersTable"]
    indexes = {i["IndexName"]: i for i in members["GlobalSecondaryIndexes"]}
    assert indexes["by_review_date"]["KeySchema"][0]["AttributeName"] == "review_key"


def test_every_substitution_in_every_state_machine_resolves(template):
    machines = template.state_machines
    assert machines, "no state machines declared"
    for spec in machines.values():
        text = spec.definition_path.read_text()
        used = set(re.findall(r"\$\{([A-Za-z0-9_.:]+)\}", text))
        assert used, spec.logical_id
        assert used <= set(spec.substitutions), (
            f"{spec.logical_id}: {used - set(spec.substitutions)}"
        )
        resolved = substitute_definition(text, {k: "arn:x" for k in spec.substitutions})
        json.loads(resolved)
        assert "$$.Map.Item.Value" in resolved  # ASL context paths survive substitution


def test_substitution_refuses_an_unknown_name():
    with pytest.raises(KeyError, match="Missing"):
        substitute_definition('{"a": "${Missing}"}', {})
