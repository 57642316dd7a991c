"""template.yaml is the one declaration: it lints, transforms, and everything it names exists."""

import json
import re

import pytest

from memberflow_local.template import Template, check_transform, substitute_definition
from memberflow_local.translated import Translated, translated_problems

ACCOUNT_ARN = "us-east-1:123456789012"


@pytest.fixture(scope="module")
def template():
    return Template()


@pytest.fixture(scope="module")
def translated(template):
    """template.yaml as aws-sam-translator emits it (what CloudFormation deploys)."""
    return check_transform(template.path)


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
    # Built by shared/Makefile: python3.12 dependencies for arm64, plus compiled .pyc.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    makefile = (template.path.parent / "shared" / "Makefile").read_text()
    assert "build-MemberflowLayer:" in makefile and "compileall" in makefile
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


# ---------------------------------------------------------------- the deployed shape
def test_the_translated_template_has_no_deploy_problems(translated):
    assert translated_problems(translated) == []


def test_the_check_reports_caller_credentials_fixed_names_and_unretained_tables(template):
    """The check `make test` runs fails on each defect it is there for."""
    from samtranslator.yaml_helper import yaml_parse

    doc = yaml_parse(template.path.read_text())
    del doc["Resources"]["MemberflowApi"]["Properties"]["Auth"]["InvokeRole"]
    daily = doc["Resources"]["SweepFunction"]["Properties"]["Events"]["Daily"]["Properties"]
    del daily["OmitName"]
    del doc["Resources"]["LedgerTable"]["DeletionPolicy"]
    del doc["Resources"]["OrdersTable"]["Properties"]["PointInTimeRecoverySpecification"]
    problems = translated_problems(check_transform(template.path, doc))
    assert any(p.startswith("GET /members/{member_id}: IAM route calls Lambda") for p in problems)
    assert any(p.startswith("SweepFunctionDaily: AWS::Scheduler::Schedule") for p in problems)
    assert "LedgerTable: DeletionPolicy is not Retain" in problems
    assert "OrdersTable: no point-in-time recovery" in problems


def test_iam_routes_invoke_lambda_by_its_permission_not_the_callers_credentials(
    template, translated
):
    paths = translated["Resources"]["MemberflowApi"]["Properties"]["Body"]["paths"]
    permissions = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission"
    ]
    authorised = [route for route in template.routes if route.authorised]
    assert len(authorised) >= 10
    for route in authorised:
        operation = paths[route.path][route.method.lower()]
        assert operation["security"] == [{"AWS_IAM": []}], route
        # No "credentials": API Gateway invokes with its own service principal...
        assert "credentials" not in operation["x-amazon-apigateway-integration"], route
        # ...which the function's resource-based policy allows for this route.
        source = f"/{route.method}" + re.sub(r"\{[^}]+\}", "*", route.path)
        assert any(
            p["FunctionName"] == {"Ref": route.function}
            and p["Principal"] == "apigateway.amazonaws.com"
            and p["SourceArn"]["Fn::Sub"][0].endswith(source)
            for p in permissions
        ), route


def test_two_stacks_in_one_account_and_region_share_no_fixed_name(translated):
    first = Translated(translated, "memberflow").named_resources()
    second = Translated(translated, "memberflow-staging").named_resources()
    assert first and not set(first) & set(second)
    schedules = [
        r for r in translated["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"
    ]
    # The sweep's two daily runs, the weekly RFM job and the weekly KPI snapshot.
    assert len(schedules) == 4
    assert all("Name" not in r["Properties"] for r in schedules)  # CloudFormation names them


def test_tables_are_retained_and_those_holding_money_or_state_are_recoverable(translated):
    tables = {
        k: r for k, r in translated["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"
    }
    assert len(tables) == 10  # nine of the store, and the KPI snapshots
    for logical_id, table in tables.items():
        assert table["DeletionPolicy"] == "Retain", logical_id
        assert table["UpdateReplacePolicy"] == "Retain", logical_id
    recoverable = {
        k
        for k, r in tables.items()
        if r["Properties"]
        .get("PointInTimeRecoverySpecification", {})
        .get("PointInTimeRecoveryEnabled")
    }
    assert recoverable == set(tables) - {"IdempotencyTable"}


def test_the_journey_step_texts_phone_numbers_and_may_do_nothing_else_on_sns(translated):
    stack = Translated(translated)
    # A publish to a phone number is authorised on "*" (a number has no ARN).
    assert stack.allows("JourneyStepFunction", "sns:Publish", "*")
    granted = {
        action
        for statement in stack.role_statements("JourneyStepFunction")
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action.startswith("sns:")
    }
    assert granted == {"sns:Publish"}
    assert not stack.allows("JourneyStepFunction", "sns:CreateTopic", "*")


def test_the_journey_step_may_read_the_secret_its_webhook_channel_signs_with(template, translated):
    stack = Translated(translated)
    spec = template.functions["JourneyStepFunction"]
    assert spec.environment["WEBHOOK_SECRET_NAME"] == {"Ref": "WebhookSecretName"}
    name = stack.parameters["WebhookSecretName"]
    # Secrets Manager appends six random characters to a secret's ARN.
    arn = f"arn:aws:secretsmanager:{ACCOUNT_ARN}:secret:{name}-AbCdEf"
    assert stack.allows("JourneyStepFunction", "secretsmanager:GetSecretValue", arn)
    other = f"arn:aws:secretsmanager:{ACCOUNT_ARN}:secret:someone-else-AbCdEf"
    assert not stack.allows("JourneyStepFunction", "secretsmanager:GetSecretValue", other)


@pytest.mark.parametrize("identity", ["members@example.com", "example.com"])
def test_the_journey_step_sends_from_the_sender_by_its_address_or_domain_identity(
    translated, identity
):
    stack = Translated(translated)
    arn = f"arn:aws:ses:{ACCOUNT_ARN}:identity/{identity}"
    sender = {"ses:FromAddress": "members@example.com"}
    assert stack.allows("JourneyStepFunction", "ses:SendEmail", arn, sender)
    assert stack.allows("JourneyStepFunction", "ses:SendRawEmail", arn, sender)
    stranger = {"ses:FromAddress": "ceo@example.com"}
    assert not stack.allows("JourneyStepFunction", "ses:SendEmail", arn, stranger)
    assert not stack.allows("JourneyStepFunction", "ses:VerifyEmailIdentity", arn, sender)


def test_the_stack_declares_the_sender_identity_it_is_given(translated):
    assert not Translated(translated).exists("SenderIdentity")  # verified outside the stack
    stack = Translated(translated, EmailIdentity="example.com")
    assert stack.exists("SenderIdentity")
    identity = translated["Resources"]["SenderIdentity"]
    assert identity["Type"] == "AWS::SES::EmailIdentity"
    assert stack.value(identity["Properties"]["EmailIdentity"]) == "example.com"


def test_every_function_may_read_exactly_the_programme_parameter_the_stack_is_given(
    template, translated
):
    stack = Translated(translated, ProgrammeConfigParameter="/acme/loyalty-programme")
    parameter = f"arn:aws:ssm:{ACCOUNT_ARN}:parameter/acme/loyalty-programme"
    other = f"arn:aws:ssm:{ACCOUNT_ARN}:parameter/acme/payroll"
    assert template.functions
    for logical_id in template.functions:
        assert stack.allows(logical_id, "ssm:GetParameter", parameter), logical_id
        assert not stack.allows(logical_id, "ssm:GetParameter", other), logical_id
    # A name the grant could not cover (no leading slash) is refused at deploy time.
    pattern = template.doc["Parameters"]["ProgrammeConfigParameter"]["AllowedPattern"]
    for accepted in ("", "/acme/loyalty-programme", "/programme"):
        assert re.fullmatch(pattern, accepted), accepted
    assert not re.fullmatch(pattern, "acme/loyalty-programme")


def test_the_default_programme_needs_the_ssm_advanced_tier_as_the_docs_say(template, tmp_path):
    import subprocess
    import sys

    from memberflow.config.programme import default_document, validate_document
    from memberflow.config.versions import COMPRESSED, parameter_text, parameter_value, tier_for

    # What publishing stores: compact JSON, UTF-8 (the limit counted in bytes, never
    # fewer than the characters AWS counts), as plain JSON (readable in the console)
    value = parameter_value(validate_document(default_document()))
    assert not value.startswith(COMPRESSED) and json.loads(parameter_text(value))
    size = len(value.encode("utf-8"))
    assert 4096 < size <= 8192  # over Standard's 4 KB, within Advanced's 8 KB
    assert tier_for(size, None) == "Advanced"
    deploy = (template.path.parent / "docs" / "deploy.md").read_text()
    assert "Advanced" in deploy and "--tier Advanced" in deploy
    # and the docs' own command, run on the default programme, stores that same value
    command = re.search(r"python -c '([^']+)' my-programme\.json", deploy).group(1)
    path = tmp_path / "my-programme.json"
    path.write_text(json.dumps(default_document(), ensure_ascii=False, indent=2), "utf-8")
    ran = subprocess.run(
        [sys.executable, "-c", command, str(path)], capture_output=True, check=True
    )
    assert ran.stdout.decode("utf-8").rstrip("\n") == value


def test_every_metric_the_dashboard_plots_is_emitted_by_a_handler(template):
    body = template.resources["MemberflowDashboard"]["Properties"]["DashboardBody"]
    body = json.loads(body["Fn::Sub"].replace("${AWS::Region}", "us-east-1"))
    plotted = set()
    for widget in body["widgets"]:
        name = None
        for metric in widget["properties"]["metrics"]:
            name = metric[1] if metric[1] != "." else name
            plotted.add(name)
    code = "\n".join(
        path.read_text()
        for folder in ("shared/memberflow", "functions")
        for path in (template.path.parent / folder).rglob("*.py")
    )
    from memberflow import metrics

    emitted = set(re.findall(r"count\(\s*\"(\w+)\"", code))
    emitted |= set(re.findall(r"\(\"(\w+)\", \"\w+\"\)", code))  # journey step's table
    emitted |= {*metrics.STAGE_METRICS.values(), *metrics.LEDGER_METRICS.values()}
    assert plotted and plotted <= emitted, plotted - emitted


def test_the_webhook_may_hand_shop_erasure_to_its_function_which_may_hand_on(template, translated):
    stack = Translated(translated)
    name = stack.physical("ShopErasureFunction")
    assert name == "memberflow-shop-erasure"
    env = template.globals["Environment"]["Variables"]["SHOP_ERASURE_FUNCTION"]
    assert stack.value(env) == name
    arn = f"arn:aws:lambda:{ACCOUNT_ARN}:function:{name}"
    assert stack.allows("WebhookFunction", "lambda:InvokeFunction", arn)
    assert stack.allows("ShopErasureFunction", "lambda:InvokeFunction", arn)
    other = f"arn:aws:lambda:{ACCOUNT_ARN}:function:memberflow-other"
    assert not stack.allows("WebhookFunction", "lambda:InvokeFunction", other)
