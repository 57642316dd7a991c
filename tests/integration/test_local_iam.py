"""IAM on the local stack: every function and state machine acts as its own role, as
template.yaml deploys it (docs/local-stack.md, "IAM")."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from memberflow_local import iam
from memberflow_local.stack import ACCOUNT, REGION, LocalStack
from memberflow_local.template import Template
from tests.integration.test_webhooks_support import Platforms, raw

ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role"


def _denied(error: pytest.ExceptionInfo, code: str, status: int) -> str:
    response = error.value.response
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    return response["Error"]["Message"]


def _template_without(logical_id: str, policy: dict) -> Template:
    """A copy of template.yaml whose ``logical_id`` lacks one of its Policies."""
    doc = copy.deepcopy(Template().doc)
    props = doc["Resources"][logical_id]["Properties"]
    assert policy in props["Policies"], "the grant under test is no longer in template.yaml"
    props["Policies"] = [p for p in props["Policies"] if p != policy]
    return Template(doc=doc)


def _sign_up_and_pay(stack: LocalStack) -> tuple[int, int]:
    send = Platforms(stack)
    signed_up = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    paid = send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-1")
    stack.clock.wait_idle()
    return signed_up.status, paid.status


def _welcome_executions(stack: LocalStack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    # Every journey runs on the one journey state machine: the welcome's are its
    # executions named after a welcome cohort (welcome-<member>).
    listed = sfn.list_executions(stateMachineArn=stack.physical["JourneyStateMachine"]["Arn"])
    return [e for e in listed["executions"] if e["name"].startswith("welcome-")]


def _ledger_entries(stack: LocalStack) -> list[dict]:
    table = stack.physical["LedgerTable"]["Ref"]
    return stack.client("dynamodb").scan(TableName=table)["Items"]


# ---------------------------------------------------------------------- the rules
def test_a_call_outside_the_role_fails_as_aws_fails_it(stack):
    ddb = stack.client("dynamodb")
    members = stack.physical["MembersTable"]["Ref"]
    enrolments = stack.physical["EnrolmentsTable"]["Ref"]
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{members}"
    report = stack.iam.of_function("KpiSnapshotFunction")  # read-only on the members table
    caller = f"{ARN}/memberflow-local-KpiSnapshotFunctionRole/memberflow-local-KpiSnapshotFunction"
    item = {"member_id": {"S": "mbr_1"}}
    with iam.acting_as(report):
        assert "Item" not in ddb.get_item(TableName=members, Key=item)
        with pytest.raises(ClientError) as error:
            ddb.put_item(TableName=members, Item=item)
        assert _denied(error, "AccessDeniedException", 400) == (
            f"User: {caller} is not authorized to perform: dynamodb:PutItem on resource: "
            f"{table_arn} because no identity-based policy allows the dynamodb:PutItem action"
        )
        # Threads the handler starts act as the function too.
        with ThreadPoolExecutor(2) as pool, pytest.raises(ClientError):
            pool.submit(ddb.put_item, TableName=members, Item=item).result()
        # The other services answer with their own codes and shapes.
        with pytest.raises(ClientError) as error:
            stack.client("stepfunctions").start_execution(
                stateMachineArn=stack.physical["JourneyStateMachine"]["Arn"], input="{}"
            )
        assert "states:StartExecution on resource: arn:aws:states:" in _denied(
            error, "AccessDeniedException", 400
        )
        with pytest.raises(ClientError) as error:
            stack.client("ses").send_email(
                Source="members@example.com",
                Destination={"ToAddresses": ["ada@example.com"]},
                Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
            )
        assert _denied(error, "AccessDenied", 403) == (
            f"User `{caller}' is not authorized to perform `ses:SendEmail' on resource "
            f"`arn:aws:ses:{REGION}:{ACCOUNT}:identity/members@example.com'"
        )
        with pytest.raises(ClientError) as error:
            stack.client("sns").publish(PhoneNumber="+447700900123", Message="hi")
        assert "perform: SNS:Publish on resource: +447700900123 because" in _denied(
            error, "AuthorizationError", 403
        )
        with pytest.raises(ClientError) as error:
            stack.client("secretsmanager").get_secret_value(SecretId="memberflow/webhook-secrets")
        # IAM sees the secret's full ARN, with the suffix Secrets Manager gave it.
        assert ":secret:memberflow/webhook-secrets-" in _denied(error, "AccessDeniedException", 400)
    # Outside any invocation: the operator's credentials, unrestricted.
    ddb.put_item(TableName=members, Item=item)
    assert ddb.get_item(TableName=members, Key=item)["Item"] == item

    # A transaction is authorised item by item, each with its own action: the cohort
    # entry function may write enrolments but only read members (no ConditionCheckItem).
    journey_api = stack.iam.of_function("CohortEntryFunction")
    enrolment = {"member_id": {"S": "mbr_1"}, "enrolment_key": {"S": "welcome#c1"}}
    with iam.acting_as(journey_api), pytest.raises(ClientError) as error:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": enrolments, "Item": enrolment}},
                {
                    "ConditionCheck": {
                        "TableName": members,
                        "Key": item,
                        "ConditionExpression": "attribute_exists(member_id)",
                    }
                },
            ]
        )
    assert f"dynamodb:ConditionCheckItem on resource: {table_arn} because" in _denied(
        error, "AccessDeniedException", 400
    )
    assert ddb.scan(TableName=enrolments)["Items"] == []  # nothing half-written


def test_index_queries_are_authorised_on_the_index(stack):
    ddb = stack.client("dynamodb")
    members = stack.physical["MembersTable"]["Ref"]
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{members}"
    table_only = iam.Role(
        "table-only",
        [
            iam.normalise(
                {
                    "Statement": [
                        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": table_arn}
                    ]
                },
                "test",
            )
        ],
    )
    key = {":h": {"S": "mbr_1"}}
    with iam.acting_as(iam.Principal(table_only, "caller", ACCOUNT)):
        ddb.query(
            TableName=members,
            KeyConditionExpression="member_id = :h",
            ExpressionAttributeValues=key,
        )
        with pytest.raises(ClientError) as error:
            ddb.query(
                TableName=members,
                IndexName="by_email",
                KeyConditionExpression="email_hash = :h",
                ExpressionAttributeValues=key,
            )
    assert f"on resource: {table_arn}/index/by_email because" in _denied(
        error, "AccessDeniedException", 400
    )


def test_each_function_keeps_its_own_parameter_cache(stack):
    """Powertools caches secrets in module globals; in AWS each function has its own,
    so a function without the grant never reads what another function fetched."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    name = "memberflow/webhook-secrets"
    with iam.acting_as(stack.iam.of_function("WebhookFunction")):
        assert parameters.get_secret(name, transform="json", max_age=300)["shopify"]
    with iam.acting_as(stack.iam.of_function("ReportFunction")), pytest.raises(GetParameterError):
        parameters.get_secret(name, transform="json", max_age=300)


# ---------------------------------------------------------------------- template grants
def test_the_full_template_grants_the_sign_up_and_paid_order_paths(stack):
    assert _sign_up_and_pay(stack) == (200, 200)
    executions = _welcome_executions(stack)  # one per pass of the cohort
    assert executions
    assert {e["status"] for e in executions} <= {"RUNNING", "SUCCEEDED"}  # onboarding waits
    assert {e["entry_key"]["S"].split("#")[0] for e in _ledger_entries(stack)} >= {"bonus", "earn"}


def test_without_the_start_execution_grant_sign_up_fails():
    template = _template_without(
        "WebhookFunction",
        {
            "StepFunctionsExecutionPolicy": {
                "StateMachineName": {"Fn::GetAtt": ["JourneyStateMachine", "Name"]}
            }
        },
    )
    with LocalStack(template=template) as stack:
        send = Platforms(stack)
        response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
        stack.clock.wait_idle()
        assert response.status >= 500, response.body
        assert _welcome_executions(stack) == []


def test_without_the_ledger_grant_the_paid_order_fails():
    template = _template_without(
        "WebhookFunction", {"DynamoDBCrudPolicy": {"TableName": {"Ref": "LedgerTable"}}}
    )
    with LocalStack(template=template) as stack:
        send = Platforms(stack)
        response = send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-1")
        assert response.status >= 500, response.body
        assert _ledger_entries(stack) == []


def test_a_journey_role_without_lambda_invoke_fails_its_execution():
    template = _template_without(
        "JourneyStateMachine",
        {"LambdaInvokePolicy": {"FunctionName": {"Ref": "JourneyStepFunction"}}},
    )
    with LocalStack(template=template) as stack:
        send = Platforms(stack)
        response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
        assert response.status == 200, response.body
        stack.clock.wait_idle()
        (execution,) = _welcome_executions(stack)
        assert execution["status"] == "FAILED"
        sfn = stack.client("stepfunctions")
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        failures = [e["taskFailedEventDetails"] for e in history if "taskFailedEventDetails" in e]
        assert failures and failures[-1]["error"] == "Lambda.AccessDeniedException"
        assert "memberflow-local-JourneyStateMachineRole" in failures[-1]["cause"]
        assert "lambda:InvokeFunction" in failures[-1]["cause"]
        assert stack.invocations.get("JourneyStepFunction", 0) == 0
        assert stack.outbox() == []


# ---------------------------------------------------------------------- parity
def test_an_allowed_call_answers_as_without_enforcement(stack):
    ddb = stack.client("dynamodb")
    members = stack.physical["MembersTable"]["Ref"]
    ledger = stack.physical["LedgerTable"]["Ref"]
    ddb.put_item(TableName=members, Item={"member_id": {"S": "mbr_1"}, "email_hash": {"S": "h"}})
    calls = [
        lambda: ddb.query(
            TableName=members,
            IndexName="by_email",
            KeyConditionExpression="email_hash = :h",
            ExpressionAttributeValues={":h": {"S": "h"}},
        ),
        lambda: ddb.update_item(
            TableName=members,
            Key={"member_id": {"S": "mbr_1"}},
            UpdateExpression="SET points_balance = :p",
            ExpressionAttributeValues={":p": {"N": "100"}},
            ReturnValues="ALL_NEW",
        ),
        lambda: ddb.get_item(TableName=members, Key={"member_id": {"S": "mbr_1"}}),
        lambda: ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": ledger,
                        "Item": {"member_id": {"S": "mbr_1"}, "entry_key": {"S": "bonus#join"}},
                        "ConditionExpression": "attribute_not_exists(entry_key)",
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": members,
                        "Key": {"member_id": {"S": "mbr_2"}},
                        "ConditionExpression": "attribute_exists(member_id)",
                    }
                },
            ]
        ),
    ]

    def answers() -> list:
        out = []
        for call in calls:
            try:
                result = call()
            except ClientError as error:
                result = error.response
            result.pop("ResponseMetadata")
            out.append(json.loads(json.dumps(result, default=str)))
        return out

    webhook = stack.iam.of_function("WebhookFunction")
    with iam.acting_as(webhook):
        enforced = answers()
    with iam.acting_as(webhook), iam.enforcement(False):
        plain = answers()
    assert enforced == plain
    assert enforced[-1]["Error"]["Code"] == "TransactionCanceledException"


def test_the_iam_seams_are_in_place(stack):
    """moto 5.2.5 internals iam.py patches: fails loudly if an upgrade moves them."""
    from concurrent.futures import ThreadPoolExecutor as Pool

    from botocore.handlers import BUILTIN_HANDLERS, REGISTER_FIRST
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    for task in (StateTaskService, StateTaskLambda):
        assert task.__dict__.get("_memberflow_iam"), task
    assert getattr(Pool.submit, "_memberflow_iam", False)
    assert ("before-call.dynamodb", iam.answer, REGISTER_FIRST) in BUILTIN_HANDLERS
    assert ("before-parameter-build", iam.authorise, REGISTER_FIRST) in BUILTIN_HANDLERS
    assert set(stack.iam.functions) == set(stack.functions)
    assert set(stack.iam.machines) == {
        stack.physical[m]["Name"] for m in stack.template.state_machines
    }
