"""The local stack refuses what AWS refuses beyond IAM: index lag and quotas.

Each test proves one rule: something that moto alone would let through (an index read
right after a write, a handler past its timeout, ...) fails here as it fails in AWS.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from memberflow_local import index_reads
from memberflow_local.stack import LocalStack
from tests.conftest import signed_shopify


@pytest.fixture
def lagging():
    with LocalStack(index_lag=5.0) as local:
        yield local


def _shard(client, table, shard, **extra):
    response = client.query(
        TableName=table,
        IndexName="by_cohort_shard",
        KeyConditionExpression="cohort_shard = :s",
        ExpressionAttributeValues={":s": {"S": shard}},
        **extra,
    )
    return [(i["member_id"]["S"], i.get("status", {}).get("S")) for i in response["Items"]]


def _enrolment(member, shard, status="open"):
    return {
        "member_id": {"S": member},
        "enrolment_key": {"S": "welcome#c1"},
        "cohort_shard": {"S": shard},
        "status": {"S": status},
    }


# ------------------------------------------------------------------ index lag
def test_an_index_shows_a_write_only_after_the_lag_and_the_table_at_once(lagging):
    client = lagging.client("dynamodb")
    table = lagging.physical["EnrolmentsTable"]["Ref"]
    key = {"member_id": {"S": "m1"}, "enrolment_key": {"S": "welcome#c1"}}
    client.put_item(TableName=table, Item=_enrolment("m1", "COHORT#c1#0"))
    # The base table, by key or by query, sees the write at once.
    assert client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert client.query(
        TableName=table,
        KeyConditionExpression="member_id = :m",
        ExpressionAttributeValues={":m": {"S": "m1"}},
        ConsistentRead=True,
    )["Items"]
    # The index does not, until the lag has passed on the virtual clock.
    assert _shard(client, table, "COHORT#c1#0") == []
    lagging.advance(seconds=4)
    assert _shard(client, table, "COHORT#c1#0") == []
    lagging.advance(seconds=1)
    assert _shard(client, table, "COHORT#c1#0") == [("m1", "open")]

    # An update that moves the index key: the old key answers until the lag has passed.
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET cohort_shard = :s, #st = :c",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":s": {"S": "COHORT#c1#1"}, ":c": {"S": "converted"}},
    )
    assert _shard(client, table, "COHORT#c1#0") == [("m1", "open")]
    assert _shard(client, table, "COHORT#c1#1") == []
    lagging.advance(seconds=5)
    assert _shard(client, table, "COHORT#c1#0") == []
    assert _shard(client, table, "COHORT#c1#1") == [("m1", "converted")]

    # A transaction is no different, nor a delete; a scan of the index neither.
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": _enrolment("m2", "COHORT#c1#1")}},
            {"Delete": {"TableName": table, "Key": key}},
        ]
    )
    assert _shard(client, table, "COHORT#c1#1") == [("m1", "converted")]
    scanned = client.scan(TableName=table, IndexName="by_cohort_shard")["Items"]
    assert [i["member_id"]["S"] for i in scanned] == ["m1"]
    lagging.advance(seconds=5)
    assert _shard(client, table, "COHORT#c1#1") == [("m2", "open")]


def test_a_cancelled_transaction_never_shows_in_an_index(lagging):
    client = lagging.client("dynamodb")
    table = lagging.physical["EnrolmentsTable"]["Ref"]
    client.put_item(TableName=table, Item=_enrolment("m1", "COHORT#c1#0"))
    lagging.advance(seconds=5)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _enrolment("m1", "COHORT#c1#0", "done")}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": _enrolment("m1", "COHORT#c1#0") | {"enrolment_key": {"S": "x"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"member_id": {"S": "nobody"}, "enrolment_key": {"S": "x"}},
                        "ConditionExpression": "attribute_exists(member_id)",
                    }
                },
            ]
        )
    for wait in (0, 5):
        lagging.advance(seconds=wait)
        assert _shard(client, table, "COHORT#c1#0") == [("m1", "open")]


def test_a_consistent_read_of_a_global_secondary_index_is_refused(lagging):
    client = lagging.client("dynamodb")
    table = lagging.physical["EnrolmentsTable"]["Ref"]
    with pytest.raises(ClientError) as refused:
        _shard(client, table, "COHORT#c1#0", ConsistentRead=True)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == "Consistent reads are not supported on global secondary indexes"


def _index_reads(client, table):
    """Writes and index reads (query, pages, keys-only projection, scan) and their answers."""
    answers = []
    members = lambda page: [(i["member_id"]["S"], i.get("status")) for i in page["Items"]]  # noqa: E731
    for n in range(5):
        client.put_item(TableName=table, Item=_enrolment(f"m{n}", f"COHORT#c1#{n % 2}"))
    client.update_item(
        TableName=table,
        Key={"member_id": {"S": "m3"}, "enrolment_key": {"S": "welcome#c1"}},
        UpdateExpression="SET cohort_shard = :s REMOVE #st",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":s": {"S": "COHORT#c1#0"}},
    )
    client.delete_item(
        TableName=table, Key={"member_id": {"S": "m0"}, "enrolment_key": {"S": "welcome#c1"}}
    )
    for shard in ("COHORT#c1#0", "COHORT#c1#1", "COHORT#none"):
        pages = client.get_paginator("query").paginate(
            TableName=table,
            IndexName="by_cohort_shard",
            KeyConditionExpression="cohort_shard = :s AND member_id > :m",
            ExpressionAttributeValues={":s": {"S": shard}, ":m": {"S": "m0"}},
            ScanIndexForward=False,
            Limit=1,
        )
        answers.append([members(page) for page in pages])
    answers.append(members(client.scan(TableName=table, IndexName="by_cohort_shard")))
    return answers


def test_with_no_lag_index_reads_answer_exactly_as_motos_own():
    """Parity of the index seam: moto's own Table.query / has_idx_items give the same."""
    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        table = local.physical["EnrolmentsTable"]["Ref"]
        ours = _index_reads(client, table)
        with index_reads.motos_own_reads():
            theirs = _index_reads(client, table)
    assert ours == theirs
    assert ours[0] and ours[1] and ours[3]


# ------------------------------------------------------------------ defect 8: read after write
def _deliver(stack, delivery):
    path, body, headers = delivery
    response = stack.http("POST", path, body=body, headers=headers)
    assert response.status == 200, response.body
    return response.json()


def test_a_sign_up_gets_its_welcome_at_once_though_the_index_lags(lagging):
    from memberflow_local.platforms import Deliveries

    send = Deliveries.for_stack(lagging)
    now = lagging.clock.now()
    (member_id,) = _deliver(lagging, send.shopify_customer(501, "w@example.com", "W", "X", now))[
        "member_ids"
    ]
    lagging.clock.wait_idle()  # no advance: the index still shows nothing of the cohort
    from memberflow.store import Enrolment

    (enrolment,) = Enrolment.query(member_id, consistent_read=True)
    assert enrolment.steps_reached and enrolment.steps_reached[0] == "welcome"


def test_a_large_cohort_defers_the_members_its_index_does_not_show_yet(lagging, monkeypatch):
    """Cohorts too large to list their members count them per shard: a step that sees
    fewer enrolments in the index than its shard holds defers, never skips."""
    from memberflow import runtime
    from memberflow.journeys import cohorts, engine
    from memberflow.store import Enrolment
    from memberflow_local.platforms import Deliveries

    monkeypatch.setattr(cohorts, "LISTED_COHORT_MAX", 0)
    send = Deliveries.for_stack(lagging)
    now = lagging.clock.now()
    members = []
    for n in range(6):
        email = f"a{n}@example.com"
        members += _deliver(lagging, send.shopify_customer(600 + n, email, "A", "B", now))[
            "member_ids"
        ]
        _deliver(lagging, send.shopify_email_consent(600 + n, email, True, now))
    lagging.advance(hours=1)
    result = engine.enrol_cohort(
        programme=runtime.app_context().programme,
        journey="activation",
        member_ids=members,
        cohort_id="activation-lag-test",
        state_machine_arn=lagging.physical["JourneyStateMachine"]["Arn"],
        stepfunctions=lagging.client("stepfunctions"),
        now=lagging.clock.now(),
    )
    assert result.started and sorted(result.enrolled) == sorted(members)
    lagging.clock.wait_idle()
    # The first step ran in the instant of enrolment: the index showed no one yet.
    key = "activation#activation-lag-test"
    reached = lambda: {  # noqa: E731
        m: Enrolment.get(m, key, consistent_read=True).steps_reached or [] for m in members
    }
    assert all(not marks for marks in reached().values())
    lagging.advance(days=1)
    assert all(any(m.startswith("nudge_1") for m in marks) for marks in reached().values())


def test_find_by_email_sees_a_member_created_a_moment_ago(lagging):
    from memberflow_local.platforms import Deliveries

    send = Deliveries.for_stack(lagging)
    now = lagging.clock.now()
    (first,) = _deliver(lagging, send.shopify_customer(701, "Same@Example.com", "S", "E", now))[
        "member_ids"
    ]
    # Another platform, same person, the same instant: one member, not two.
    (second,) = _deliver(lagging, send.woo_customer(9701, "same@example.com", "S", "E", now))[
        "member_ids"
    ]
    assert second == first
    found = lagging.http("GET", "/members?email=same@example.com").json()["members"]
    assert [m["member_id"] for m in found] == [first]
    # A changed email is found at once too (and the old one no longer is).
    update = json.loads(send.shopify_customer(701, "new@example.com", "S", "E", now)[1])
    update["updated_at"] = (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps(update).encode()
    headers = signed_shopify(lagging, "customers/update", body, "u-701")
    assert lagging.http("POST", "/webhooks/shopify", body=body, headers=headers).status == 200
    found = lagging.http("GET", "/members?email=new@example.com").json()["members"]
    assert [m["member_id"] for m in found] == [first]
    assert lagging.http("GET", "/members?email=same@example.com").json()["members"] == []


def test_a_refund_parked_before_its_order_is_applied_when_the_order_lands(lagging):
    from memberflow_local.platforms import Deliveries

    send = Deliveries.for_stack(lagging)
    now = lagging.clock.now()
    (member_id,) = _deliver(lagging, send.shopify_customer(801, "r@example.com", "R", "F", now))[
        "member_ids"
    ]
    lagging.advance(hours=1)
    now = lagging.clock.now()
    # Shopify refunds carry no customer: this one is parked until its order arrives,
    # which here is the same instant (the index has not caught up).
    _deliver(lagging, send.shopify_refund(880, 8801, Decimal("40"), now))
    _deliver(lagging, send.shopify_order_paid(8801, 801, "r@example.com", Decimal("100"), now))
    member = lagging.http("GET", f"/members/{member_id}").json()
    assert Decimal(member["lifetime_spend"]) == Decimal("60")


# ------------------------------------------------------------------ Lambda: Timeout as a budget
def _slow(stack, logical_id, seen):
    """Make the function overrun its budget before its real handler runs."""
    real = stack.handler(logical_id)

    def handler(event, context):
        while context.get_remaining_time_in_millis() > 0:
            time.sleep(0.005)
        time.sleep(0.5)  # past the budget: Lambda has ended the invocation by now
        seen.append("finished")
        return real(event, context)

    stack._handlers[logical_id] = handler


def test_the_context_reports_the_time_left_of_the_functions_timeout():
    with LocalStack(timeout_scale=0.01) as local:
        seen = []
        real = local.handler("JourneyStepFunction")

        def handler(event, context):
            seen.append(context.get_remaining_time_in_millis())
            time.sleep(0.2)
            seen.append(context.get_remaining_time_in_millis())
            return {"ok": True}

        local._handlers["JourneyStepFunction"] = handler
        assert local.invoke("JourneyStepFunction", {}) == {"ok": True}
        local._handlers["JourneyStepFunction"] = real
    budget = local.functions["JourneyStepFunction"].timeout * 0.01 * 1000  # Timeout: 300
    assert budget - 200 < seen[0] <= budget
    assert seen[1] <= seen[0] - 190


def test_an_invocation_past_its_timeout_is_ended_as_lambda_ends_it():
    from memberflow_local.budget import LambdaTimeout

    with LocalStack(timeout_scale=0.001) as local:
        seen = []
        _slow(local, "JourneyStepFunction", seen)
        with pytest.raises(LambdaTimeout, match=r"Task timed out after 300\.00 seconds"):
            local.invoke("JourneyStepFunction", {})
        assert "finished" not in seen
        # Through Lambda's API (what Step Functions calls): an Unhandled function error.
        response = local.client("lambda").invoke(
            FunctionName=local.physical["JourneyStepFunction"]["Ref"], Payload=b"{}"
        )
        assert response["FunctionError"] == "Unhandled"
        error = json.loads(response["Payload"].read())
        assert error["errorType"] == "Sandbox.Timedout"
        assert error["errorMessage"].endswith("Task timed out after 300.00 seconds")
        # A Step Functions task fails with Lambda's error, which Retry/Catch match.
        sfn = local.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="timeout-probe",
            roleArn="arn:aws:iam::123456789012:role/probe",
            definition=json.dumps(
                {
                    "StartAt": "Step",
                    "States": {
                        "Step": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {
                                "FunctionName": local.physical["JourneyStepFunction"]["Arn"],
                                "Payload": {},
                            },
                            "End": True,
                        }
                    },
                }
            ),
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        local.clock.wait_idle()
        described = sfn.describe_execution(executionArn=execution)
        assert described["status"] == "FAILED" and described["error"] == "Sandbox.Timedout"
        assert seen.count("finished") == 0


def test_a_paced_sleep_counts_in_the_invocations_time_without_being_waited_for():
    """The journey step's pacing sleeps (``Budget.pause``) pass at once locally, but the
    invocation's own clock, its reported time left and its Timeout all count them."""
    from memberflow.journeys.engine import Budget

    with LocalStack() as local:  # Timeout 300 s, unscaled
        seen = {}
        real = local.handler("JourneyStepFunction")

        def handler(event, context):
            budget = Budget.of(context)
            before, left = time.monotonic(), context.get_remaining_time_in_millis()
            assert budget.sleep(120.0)  # pacing: 120 s of sends at the channel's rate
            seen["waited"] = time.monotonic() - before
            seen["budget_elapsed"] = budget.elapsed()
            seen["left_dropped_ms"] = left - context.get_remaining_time_in_millis()
            # a sleep that would eat into the step's safety margin is refused, as in AWS
            seen["refused"] = not budget.sleep(170.0)
            return {"ok": True}

        local._handlers["JourneyStepFunction"] = handler
        assert local.invoke("JourneyStepFunction", {}) == {"ok": True}
        local._handlers["JourneyStepFunction"] = real
    assert seen["waited"] < 5.0  # not 120 s
    assert 120.0 <= seen["budget_elapsed"] < 125.0
    assert 120_000 <= seen["left_dropped_ms"] < 125_000
    assert seen["refused"]


def test_paced_sleeps_past_the_timeout_end_the_invocation_as_lambda_would():
    from memberflow.journeys.engine import Budget
    from memberflow_local.budget import LambdaTimeout

    with LocalStack() as local:
        seen = []
        real = local.handler("JourneyStepFunction")

        def handler(event, context):
            for _ in range(10):
                Budget.pause(40.0)  # 400 s of sleeps in a 300 s function, taken blindly
                seen.append("slept")
            seen.append("finished")

        local._handlers["JourneyStepFunction"] = handler
        started = time.monotonic()
        with pytest.raises(LambdaTimeout, match=r"Task timed out after 300\.00 seconds"):
            local.invoke("JourneyStepFunction", {})
        local._handlers["JourneyStepFunction"] = real
    assert seen == ["slept"] * 7  # ended by the eighth sleep (at 320 s), not after it
    assert time.monotonic() - started < 5.0
    assert (Budget.clock, Budget.pause) == (time.monotonic, time.sleep)  # restored at stop


def test_api_gateway_answers_504_after_29_seconds_and_502_when_the_function_times_out():
    with LocalStack(timeout_scale=0.01) as local:
        seen = []
        # Globals Timeout 30 > 29: API Gateway gives up first (0.29 s at this scale).
        _slow(local, "MemberApiFunction", seen)
        response = local.http("GET", "/members/mbr_nobody")
        assert response.status == 504
        assert response.json() == {"message": "Endpoint request timed out"}
        # The webhook function's own Timeout (10 s) comes first: Lambda's error, a 502.
        _slow(local, "WebhookFunction", seen)
        response = local.http("POST", "/webhooks/shopify", body=b"{}")
        assert response.status == 502 and response.json() == {"message": "Internal server error"}
        assert "finished" not in seen


def test_api_gateway_refuses_a_payload_over_10_mb(stack):
    response = stack.http("POST", "/webhooks/shopify", body=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status == 413 and response.json() == {"message": "Request Too Long"}
    assert stack.invocations.get("WebhookFunction", 0) == 0


# ------------------------------------------------------------------ Step Functions quotas
def _run(local, name: str, definition: dict) -> tuple[dict, list]:
    sfn = local.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/probe",
        definition=json.dumps(definition),
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input='{"n": 0}')["executionArn"]
    local.clock.wait_idle()
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution)
    return sfn.describe_execution(executionArn=execution), [e for p in pages for e in p["events"]]


def test_an_execution_past_its_history_limit_fails_and_catch_cannot_stop_it():
    loop = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                "Next": "Again?",
            },
            "Again?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 1000000, "Next": "Count"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    definition = {
        "StartAt": "Forever",
        "States": {
            "Forever": {
                "Type": "Parallel",
                "Branches": [loop],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    # AWS's quota is 25,000 (the stack's default); a smaller one runs the same code.
    assert LocalStack().history_limit == 25_000
    with LocalStack(history_limit=400) as local:
        described, events = _run(local, "history-probe", definition)
    assert described["status"] == "FAILED" and described["error"] == "States.Runtime"
    assert "maximum number of history events (400)" in described["cause"]
    # get_execution_history holds every event: the limit, then the failure.
    assert len(events) == 401 and events[-1]["type"] == "ExecutionFailed"


def test_a_state_output_over_256_kb_fails_with_states_data_limit_exceeded(stack):
    """moto enforces this quota itself, as AWS does: a parity check."""
    big = {
        "StartAt": "Big",
        "States": {"Big": {"Type": "Pass", "Result": "x" * 262_144, "End": True}},
    }
    described, _ = _run(stack, "payload-probe", big)
    assert described["status"] == "FAILED" and described["error"] == "States.DataLimitExceeded"
    fits = {
        "StartAt": "Fits",
        "States": {"Fits": {"Type": "Pass", "Result": "x" * 250_000, "End": True}},
    }
    assert _run(stack, "payload-fits", fits)[0]["status"] == "SUCCEEDED"


# ------------------------------------------------------------------ DynamoDB quotas (parity)
def test_dynamodb_refuses_a_transaction_over_100_items_and_an_item_over_400_kb(stack):
    """moto refuses both as DynamoDB does (ValidationException, same messages)."""
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    puts = [{"Put": {"TableName": table, "Item": {"code": {"S": f"c{n}"}}}} for n in range(101)]
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=puts)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 100" in str(refused.value)
    assert "Item" not in client.get_item(TableName=table, Key={"code": {"S": "c0"}})
    client.transact_write_items(TransactItems=puts[:100])
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName=table, Item={"code": {"S": "big"}, "x": {"S": "x" * 409_600}})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        "Item size has exceeded the maximum allowed size"
    )
    client.put_item(TableName=table, Item={"code": {"S": "fits"}, "x": {"S": "x" * 400_000}})


def test_a_keys_only_index_lags_too(lagging):
    """The members table's indexes project keys only: what they show lags the same way."""
    client = lagging.client("dynamodb")
    table = lagging.physical["MembersTable"]["Ref"]

    def by_email(hashed):
        return client.query(
            TableName=table,
            IndexName="by_email",
            KeyConditionExpression="email_hash = :h",
            ExpressionAttributeValues={":h": {"S": hashed}},
        )["Items"]

    client.put_item(TableName=table, Item={"member_id": {"S": "m1"}, "email_hash": {"S": "a"}})
    lagging.advance(seconds=5)
    client.update_item(
        TableName=table,
        Key={"member_id": {"S": "m1"}},
        UpdateExpression="SET email_hash = :b, stage = :s",
        ExpressionAttributeValues={":b": {"S": "b"}, ":s": {"S": "active"}},
    )
    assert by_email("a") == [{"member_id": {"S": "m1"}, "email_hash": {"S": "a"}}]
    assert by_email("b") == []
    lagging.advance(seconds=5)
    assert by_email("a") == [] and by_email("b") == [
        {"member_id": {"S": "m1"}, "email_hash": {"S": "b"}}
    ]


def test_in_serve_mode_the_lag_also_passes_in_wall_clock_time():
    """`memberflow serve`: requests arrive in real time and nobody may advance the clock;
    an index still catches up as it does in AWS."""
    with LocalStack(index_lag=0.2, index_lag_real_time=True) as local:
        client = local.client("dynamodb")
        table = local.physical["EnrolmentsTable"]["Ref"]
        client.put_item(TableName=table, Item=_enrolment("m1", "COHORT#c1#0"))
        assert _shard(client, table, "COHORT#c1#0") == []
        time.sleep(0.3)
        assert _shard(client, table, "COHORT#c1#0") == [("m1", "open")]
