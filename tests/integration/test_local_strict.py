"""The local stack refuses what AWS refuses beyond IAM: index lag and quotas.

Each test proves one rule: something that moto alone would let through (an index read
right after a write, a handler past its timeout, ...) fails here as it fails in AWS.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from memberflow_local import dynamodb
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
        with dynamodb.motos_own_reads():
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

    send = Deliveries(lagging.webhook_secrets)
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
    from memberflow.journeys import engine
    from memberflow.store import Enrolment
    from memberflow_local.platforms import Deliveries

    monkeypatch.setattr(engine, "LISTED_COHORT_MAX", 0)
    send = Deliveries(lagging.webhook_secrets)
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
        state_machine_arn=lagging.physical["ActivationJourney"]["Arn"],
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

    send = Deliveries(lagging.webhook_secrets)
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

    send = Deliveries(lagging.webhook_secrets)
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
