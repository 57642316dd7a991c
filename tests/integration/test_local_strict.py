"""The local stack refuses what AWS refuses beyond IAM: index lag and quotas.

Each test proves one rule: something that moto alone would let through (an index read
right after a write, a handler past its timeout, ...) fails here as it fails in AWS.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from memberflow_local import dynamodb
from memberflow_local.stack import LocalStack


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
