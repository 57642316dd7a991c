"""Parity of the local stack's scan seams (``memberflow_local/scans.py``) with moto's own
projection and copies: the same requests, answered whole, both ways."""

from __future__ import annotations

import copy
import json

from memberflow_local import item_values, scan_order, scans
from memberflow_local.stack import ACCOUNT, REGION


def _items(count: int) -> list[dict]:
    items = []
    for n in range(count):
        items.append(
            {
                "member_id": {"S": f"m{n % 7}"},
                "entry_key": {"S": f"earn#{n:04d}"},
                "kind": {"S": "earn" if n % 3 else "expiry"},
                "points": {"N": str(n * 5 - 40)},
                "multiplier": {"N": "1.50"},
                "scaled": {"N": ["1e2", "007", "-0.0"][n % 3]},  # the projection rewrites these
                "is_even": {"BOOL": n % 2 == 0},
                "empty_value": {"NULL": True},
                "labels": {"SS": ["b", "a", f"t{n}"]},
                "lot_sizes": {"NS": ["1", "2.5"]},
                "payload_bytes": {"B": b"\x00\x01memberflow"},
                "history": {
                    "L": [
                        {"M": {"at": {"S": f"2026-01-{1 + n % 28:02d}"}, "to": {"S": "new"}}},
                        {"M": {"at": {"S": "2026-02-01"}, "nested": {"L": [{"N": "3"}]}}},
                    ]
                },
                "profile": {"M": {"tier": {"S": "gold"}, "lots": {"L": [{"N": str(n)}]}}},
                "note": {"S": "x" * 2000},  # pages of the 1 MB limit hold fewer items
            }
        )
    return items


def _requests(table: str) -> list[tuple[str, dict]]:
    return [
        ("Scan", {"TableName": table, "ProjectionExpression": "kind, points"}),
        (
            "Scan",
            {
                "TableName": table,
                "ProjectionExpression": "member_id, #h, labels, lot_sizes, payload_bytes, is_even, empty_value, multiplier, scaled",
                "ExpressionAttributeNames": {"#h": "history"},
            },
        ),
        (  # nested paths and list indexes: moto's own projection
            "Scan",
            {
                "TableName": table,
                "ProjectionExpression": "profile.tier, history[1].nested, kind",
            },
        ),
        (
            "Scan",
            {
                "TableName": table,
                "ProjectionExpression": "kind, points, absent_field",
                "FilterExpression": "points > :zero",
                "ExpressionAttributeValues": {":zero": {"N": "0"}},
            },
        ),
        ("Scan", {"TableName": table, "ProjectionExpression": "points", "Limit": 7}),
        ("Scan", {"TableName": table}),
        (
            "Scan",
            {
                "TableName": table,
                "ProjectionExpression": "kind",
                "Segment": 1,
                "TotalSegments": 3,
            },
        ),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "member_id = :m",
                "ExpressionAttributeValues": {":m": {"S": "m3"}},
            },
        ),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "member_id = :m",
                "ProjectionExpression": "entry_key, profile",
                "ExpressionAttributeValues": {":m": {"S": "m3"}},
            },
        ),
    ]


def _all_pages(client, operation: str, params: dict) -> list:
    """Every page of a Scan or Query, as botocore parsed it (metadata left out)."""
    pages, start = [], None
    while True:
        request = dict(params, **({"ExclusiveStartKey": start} if start else {}))
        page = client._make_api_call(operation, request)
        page.pop("ResponseMetadata", None)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def _answers(client, table: str) -> list:
    return [_all_pages(client, operation, params) for operation, params in _requests(table)]


def test_scans_and_queries_answer_exactly_as_motos_own_copies_and_projections(stack):
    client = stack.client("dynamodb")
    table = stack.physical["LedgerTable"]["Ref"]
    for item in _items(600):  # over 1 MB: Scans page
        client.put_item(TableName=table, Item=item)
    ours = _answers(client, table)
    with scans.motos_own_scans():
        theirs = _answers(client, table)
    assert ours == theirs
    first = ours[0]
    assert len(first) > 1  # the 1 MB page limit counts the stored items, as before
    assert sum(page["Count"] for page in first) == 600
    assert set(first[0]["Items"][0]) == {"kind", "points"}
    assert ours[4][0]["Count"] == 7


def test_a_projected_scan_returns_new_items_and_leaves_the_stored_ones_alone(stack):
    from moto.dynamodb.models import dynamodb_backends

    client = stack.client("dynamodb")
    table_name = stack.physical["LedgerTable"]["Ref"]
    for item in _items(20):
        client.put_item(TableName=table_name, Item=item)
    backend = dynamodb_backends[ACCOUNT][REGION]
    table = backend.get_table(table_name)
    stored = {id(item) for item in table.all_items()}
    values = {id(v) for item in table.all_items() for v in item.attrs.values()}
    before = [item.to_json() for item in table.all_items()]

    results, _, _ = table.scan({}, None, None, None, None, False, [["history"], ["points"]])

    assert len(results) == 20
    assert not {id(r) for r in results} & stored
    assert not {id(v) for r in results for v in r.attrs.values()} & values
    results[0].attrs["history"].value.clear()  # a caller editing its result
    assert [item.to_json() for item in table.all_items()] == before


def test_an_item_copy_is_moto_s_deep_copy(stack):  # the stack installs the seams
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item(DynamoType({"S": "m1"}), DynamoType({"S": "earn#0000"}), _items(1)[0])
    ours, theirs = item_values.copy_item(item), copy.deepcopy(item)
    assert ours.to_json() == theirs.to_json() == item.to_json()
    assert ours.hash_key == item.hash_key and ours.hash_key is not item.hash_key
    ours.attrs["history"].value[0].value["to"].value = "edited"
    ours.attrs["labels"].value.append("z")
    assert item.to_json() == theirs.to_json()


def test_item_and_value_sizes_are_moto_s_own(stack):  # the stack installs the seams
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    items = [Item(DynamoType({"S": "m1"}), None, item) for item in _items(40)]
    items.append(
        Item(
            DynamoType({"S": "ü-m2"}),
            None,
            {
                "ü": {"S": "naïve ✓"},
                "empty_list": {"L": []},
                "empty_map": {"M": {}},
                "bins": {"BS": [b"\x00\xff", b"ab"]},
                "nested": {"M": {"k": {"SS": ["x", "yy"]}, "n": {"NS": ["-1.5", "20"]}}},
            },
        )
    )
    ours = [(item.size(), [v.size() for v in item.attrs.values()]) for item in items]
    with scans.motos_own_scans():
        theirs = [(item.size(), [v.size() for v in item.attrs.values()]) for item in items]
    assert ours == theirs
    assert items[-1].attrs["ü"].size() == len("naïve ✓".encode())


def test_a_scan_paged_across_writes_sees_them_as_moto_s_own_does(stack):
    """The sorted items a Scan pages through are kept between pages only while no item
    is put or deleted: a write between two pages shows in the next page, as in moto."""
    client = stack.client("dynamodb")
    table = stack.physical["LedgerTable"]["Ref"]

    def key(n):
        return {"member_id": {"S": f"m{n:03d}"}, "entry_key": {"S": "earn#1"}}

    def run():
        for n in range(0, 60, 2):
            client.put_item(TableName=table, Item={**key(n), "kind": {"S": "earn"}})
        first = client.scan(TableName=table, Limit=10, ProjectionExpression="member_id")
        client.put_item(TableName=table, Item={**key(41), "kind": {"S": "bonus"}})
        client.delete_item(TableName=table, Key=key(50))
        client.update_item(
            TableName=table,
            Key=key(30),
            UpdateExpression="SET kind = :k",
            ExpressionAttributeValues={":k": {"S": "expiry"}},
        )
        pages, start = [first["Items"]], first["LastEvaluatedKey"]
        while start:
            page = client.scan(TableName=table, Limit=10, ExclusiveStartKey=start)
            pages.append(page["Items"])
            start = page.get("LastEvaluatedKey")
        for item in client.scan(TableName=table)["Items"]:
            client.delete_item(
                TableName=table, Key={k: item[k] for k in ("member_id", "entry_key")}
            )
        return pages

    ours = run()
    with scans.motos_own_scans():
        theirs = run()
    assert ours == theirs
    seen = [item["member_id"]["S"] for page in ours for item in page]
    assert "m041" in seen and "m050" not in seen
    assert {"member_id": {"S": "m030"}, "entry_key": {"S": "earn#1"}, "kind": {"S": "expiry"}} in [
        item for page in ours for item in page
    ]


def test_a_new_item_is_built_and_size_checked_as_moto_builds_it(
    stack,
):  # the stack installs the seams
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    def build(attrs):
        try:
            return Item(DynamoType({"S": "m1"}), None, attrs).to_json()
        except ItemSizeTooLarge:
            return "ItemSizeTooLarge"

    cases = [
        _items(1)[0],
        {"only": {"S": "x"}},
        {"a": {"S": "x" * 300_000}, "b": {"S": "y" * 104_990}},  # 404,992 bytes: fits
        {"a": {"S": "x" * 300_000}, "b": {"S": "y" * 105_000}},  # over, at the last one
        {"a": {"S": "x" * 406_000}, "b": {"N": "1"}},  # over at the first
    ]
    ours = [build(attrs) for attrs in cases]
    with scans.motos_own_scans():
        theirs = [build(attrs) for attrs in cases]
    assert ours == theirs
    assert [o == "ItemSizeTooLarge" for o in ours] == [False, False, False, True, True]


def test_answers_convert_to_the_wire_dicts_moto_s_own_conversion_gives(
    stack,
):  # the stack installs the seams
    from datetime import UTC, datetime

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import dynamo_to_dict

    item = Item(DynamoType({"S": "m1"}), DynamoType({"S": "earn#0000"}), _items(1)[0])
    answers = [
        {"Items": [item.attrs, item.attrs], "Count": 2, "ScannedCount": 7},
        {"Attributes": item.attrs, "ConsumedCapacity": {"CapacityUnits": 1.5}},
        {"Item": item, "when": datetime(2026, 1, 1, tzinfo=UTC)},  # to_json, a timestamp
        {"Responses": {"t": [item.attrs]}, "UnprocessedKeys": {}},
        [DynamoType({"BS": [b"\x00", b"\x01"]}), DynamoType({"L": [{"B": b"\x02"}]}), None],
    ]
    assert [scans.to_dict(answer) for answer in answers] == [
        dynamo_to_dict(answer) for answer in answers
    ]


def _create_table(client, name: str, hash_key: tuple, range_key: tuple) -> None:
    """An on-demand table keyed by (name, type) pairs."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": key, "AttributeType": kind} for key, kind in (hash_key, range_key)
        ],
        KeySchema=[
            {"AttributeName": hash_key[0], "KeyType": "HASH"},
            {"AttributeName": range_key[0], "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_numeric_keys_sort_and_page_as_motos_own(stack):
    """Numbers sort by value (2 before 10), strings by code point: the kept order is
    moto's ``all_items`` order, and each page starts where moto's walk would start it."""
    from moto.dynamodb.models import dynamodb_backends

    client = stack.client("dynamodb")
    _create_table(client, "numbered", ("h", "N"), ("r", "S"))
    for n in range(90):
        item = {
            "h": {"N": str([2, 10, -3, 1.5, 100][n % 5])},
            "r": {"S": ["b", "a", "B", "aa", "10", "9"][n % 6] + str(n)},
        }
        client.put_item(TableName="numbered", Item=item)

    def pages(limit):
        found, start = [], None
        while True:
            request = {"TableName": "numbered", "Limit": limit}
            if start:
                request["ExclusiveStartKey"] = start
            page = client.scan(**request)
            found.append([(i["h"]["N"], i["r"]["S"]) for i in page["Items"]])
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    table = dynamodb_backends[ACCOUNT][REGION].get_table("numbered")
    original_all_items = type(table)._memberflow_sorted_originals[0]
    assert scan_order.in_key_order(table) == original_all_items(table)
    ours = [pages(limit) for limit in (1, 7, 1000)]
    with scans.motos_own_scans():
        theirs = [pages(limit) for limit in (1, 7, 1000)]
    assert ours == theirs
    assert len(ours[0]) == 90 and [k[0] for k in ours[2][0][:1]] == ["-3"]


def _every_data_plane_call(client, table: str) -> list:
    """One of each data-plane operation the lane answers, over items with every
    attribute type, binaries included; each answer without its request id."""
    items = _items(12)
    keys = [{k: item[k] for k in ("member_id", "entry_key")} for item in items]
    calls = [
        ("PutItem", {"TableName": table, "Item": items[0], "ReturnValues": "ALL_OLD"}),
        ("PutItem", {"TableName": table, "Item": items[0], "ReturnValues": "ALL_OLD"}),
        (
            "BatchWriteItem",
            {
                "RequestItems": {table: [{"PutRequest": {"Item": i}} for i in items[1:8]]},
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        ("GetItem", {"TableName": table, "Key": keys[1], "ConsistentRead": True}),
        ("GetItem", {"TableName": table, "Key": {**keys[1], "entry_key": {"S": "none"}}}),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": keys[2],
                "UpdateExpression": "SET points = points + :one, blobs = :bs ADD labels :l",
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":bs": {"BS": [b"\x01", b"\xff\x00"]},
                    ":l": {"SS": ["z"]},
                },
                "ReturnValues": "ALL_NEW",
                "ReturnConsumedCapacity": "INDEXES",
            },
        ),
        (
            "BatchGetItem",
            {
                "RequestItems": {
                    table: {"Keys": keys[:5], "ProjectionExpression": "payload_bytes, history"}
                }
            },
        ),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": table, "Key": k}} for k in keys[2:4]]},
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": table, "Item": items[8]}},
                    {"Delete": {"TableName": table, "Key": keys[3]}},
                ]
            },
        ),
        ("DeleteItem", {"TableName": table, "Key": keys[4], "ReturnValues": "ALL_OLD"}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "member_id = :m",
                "ExpressionAttributeValues": {":m": {"S": "m2"}},
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        ("Scan", {"TableName": table, "Limit": 3}),
    ]
    answers = []
    for operation, params in calls:
        answer = client._make_api_call(operation, params)
        metadata = answer.pop("ResponseMetadata")
        metadata["HTTPHeaders"].pop("x-amzn-requestid")
        # moto's own serialiser (answers with binaries) leaves out the "server" header
        # the lane's JSON serialiser sets; nothing reads it
        metadata["HTTPHeaders"].pop("server", None)
        metadata.pop("RequestId")
        answers.append((operation, answer, metadata))
    return answers


def test_answers_handed_to_botocore_as_dicts_parse_as_their_json(stack):
    """botocore reads moto's result dict directly: the same answers, binaries decoded,
    as when the dict went through JSON; the HTTP body is still there for whoever reads it."""
    from memberflow_local import lane

    client = stack.client("dynamodb")
    for name in ("wire-dicts", "wire-json"):
        _create_table(client, name, ("member_id", "S"), ("entry_key", "S"))
    ours = _every_data_plane_call(client, "wire-dicts")
    before = lane.wire_answers.enabled
    lane.wire_answers.enabled = False
    try:
        theirs = _every_data_plane_call(client, "wire-json")
    finally:
        lane.wire_answers.enabled = before
    for (_, answer, _), (_, their_answer, _) in zip(ours, theirs, strict=True):
        for found in (answer, their_answer):  # the table's name is in some answers
            text = (
                json.dumps(found, default=repr).replace("wire-dicts", "T").replace("wire-json", "T")
            )
            found.clear()
            found.update(json.loads(text))
    assert ours == theirs
    got = {}
    for op, answer, _ in ours:
        got.setdefault(op, answer)  # the first of each
    assert got["GetItem"]["Item"]["payload_bytes"] == {"B": repr(b"\x00\x01memberflow")}
    assert len(got["UpdateItem"]["Attributes"]["blobs"]["BS"]) == 2

    seen = []
    client.meta.events.register(
        "after-call.dynamodb.GetItem", lambda http_response, **_: seen.append(http_response)
    )
    client.get_item(
        TableName="wire-dicts", Key={"member_id": {"S": "m1"}, "entry_key": {"S": "earn#0001"}}
    )
    body = json.loads(seen[0].content)
    assert body["Item"]["payload_bytes"] == {"B": "AAFtZW1iZXJmbG93"}  # base64, as on the wire


def test_an_item_grown_in_place_pages_by_its_new_size(stack):
    """Item sizes are kept until the item changes: an UpdateItem (expression, legacy
    AttributeUpdates, or inside a transaction) that grows items moves the 1 MB page
    boundary exactly where moto's own sizing puts it."""
    client = stack.client("dynamodb")
    table = stack.physical["LedgerTable"]["Ref"]

    def key(n):
        return {"member_id": {"S": f"m{n:03d}"}, "entry_key": {"S": "earn#1"}}

    def pages():
        out, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = client.scan(TableName=table, ProjectionExpression="member_id", **kwargs)
            out.append([item["member_id"]["S"] for item in page["Items"]])
            start = page.get("LastEvaluatedKey")
            if not start:
                return out

    def run():
        for n in range(40):
            client.put_item(TableName=table, Item={**key(n), "note": {"S": "x" * 20_000}})
        before = pages()  # sizes summed and kept
        big = {":n": {"S": "y" * 90_000}}
        for n in range(0, 40, 4):
            client.update_item(
                TableName=table,
                Key=key(n),
                UpdateExpression="SET note = :n",
                ExpressionAttributeValues=big,
            )
        client.update_item(
            TableName=table,
            Key=key(1),
            AttributeUpdates={"note": {"Value": {"S": "z" * 90_000}, "Action": "PUT"}},
        )
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key(3),
                        "UpdateExpression": "SET note = :n",
                        "ExpressionAttributeValues": big,
                    }
                }
            ]
        )
        after = pages()
        for n in range(40):
            client.delete_item(TableName=table, Key=key(n))
        return before, after

    ours = run()
    with scans.motos_own_scans():
        theirs = run()
    assert ours == theirs
    before, after = ours
    assert len(after) > len(before)  # the grown items fill pages sooner


# ------------------------------------------------------------- kept projections
# A projected Scan keeps each stored item's answer per projection until the item changes
# in place (UpdateItem on its own, in a transaction, or as AttributeUpdates); PutItem and
# DeleteItem replace the item. These run the same writes and re-scans through the seam and
# through moto's own projection, on two tables, and compare every page.
_KEPT = [
    "kind, points, scaled, multiplier, is_even, empty_value",
    "member_id, #h, profile, labels, lot_sizes, payload_bytes, absent_field",
    "#h, profile",  # the same attributes in another projection of the same items
]


def _projected_pages(client, table: str) -> list:
    answers = []
    for projection in _KEPT:
        request = {"TableName": table, "ProjectionExpression": projection}
        if "#h" in projection:
            request["ExpressionAttributeNames"] = {"#h": "history"}
        answers.append(_all_pages(client, "Scan", request))
    return answers


def _key(n: int) -> dict:
    item = _items(n + 1)[n]
    return {k: item[k] for k in ("member_id", "entry_key")}


def _changes_in_place(client, table: str) -> None:
    """Every way an item changes in place (and, for contrast, is replaced)."""

    def update(n, expression, values=None, names=None):
        request = {"TableName": table, "Key": _key(n), "UpdateExpression": expression}
        if values:
            request["ExpressionAttributeValues"] = values
        if names:
            request["ExpressionAttributeNames"] = names
        client.update_item(**request)

    update(
        1,
        "SET profile.tier = :t, #h[0].#to = :s",
        {":t": {"S": "silver"}, ":s": {"S": "lost"}},
        {"#h": "history", "#to": "to"},
    )
    update(2, "REMOVE #h[1].nested, profile.lots", names={"#h": "history"})
    update(
        3,
        "SET profile.lots = list_append(profile.lots, :more), points = points + :n",
        {":more": {"L": [{"N": "1.50"}, {"M": {"deep": {"NS": ["1e2"]}}}]}, ":n": {"N": "0.50"}},
    )
    update(
        4,
        "ADD labels :l, lot_sizes :ns, scaled :x",
        {":l": {"SS": ["zz"]}, ":ns": {"NS": ["003"]}, ":x": {"N": "12.50"}},
    )
    update(5, "DELETE labels :l REMOVE kind, payload_bytes", {":l": {"SS": ["a", "b"]}})
    update(
        6,
        "SET #h[5] = :e, is_even = :f, empty_value = :s",
        {":e": {"M": {"b": {"B": b"\x05"}}}, ":f": {"BOOL": False}, ":s": {"S": "now set"}},
        {"#h": "history"},
    )
    update(
        7, "SET payload_bytes = :b, multiplier = :m", {":b": {"B": b"\xff"}, ":m": {"N": "2.000"}}
    )
    client.update_item(
        TableName=table,
        Key=_key(8),
        AttributeUpdates={
            "points": {"Value": {"N": "7"}, "Action": "ADD"},
            "labels": {"Value": {"SS": ["t8"]}, "Action": "DELETE"},
            "kind": {"Action": "DELETE"},
            "profile": {"Value": {"M": {"tier": {"S": "put"}}}, "Action": "PUT"},
        },
    )
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": _key(9),
                    "UpdateExpression": "SET profile.tier = :t ADD points :n",
                    "ExpressionAttributeValues": {":t": {"S": "platinum"}, ":n": {"N": "100"}},
                }
            },
            {"Delete": {"TableName": table, "Key": _key(10)}},
            {"Put": {"TableName": table, "Item": {**_items(12)[11], "kind": {"S": "put"}}}},
        ]
    )
    # a transaction cancelled after its update ran: the item is put back as it was
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key(12),
                        "UpdateExpression": "SET kind = :k",
                        "ExpressionAttributeValues": {":k": {"S": "rolled back"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key(0),
                        "ConditionExpression": "attribute_not_exists(member_id)",
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException:
        pass
    else:  # pragma: no cover - item 0 is there in every run
        raise AssertionError("the transaction should have been cancelled")
    client.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": {**_items(15)[14], "points": {"N": "-1"}}}},
                {"DeleteRequest": {"Key": _key(15)}},
            ]
        }
    )


def _kept_run(client, table: str) -> tuple:
    _create_table(client, table, ("member_id", "S"), ("entry_key", "S"))
    for item in _items(40):
        client.put_item(TableName=table, Item=item)
    before = _projected_pages(client, table)
    again = _projected_pages(client, table)  # answered from the kept projections
    _changes_in_place(client, table)
    after = _projected_pages(client, table)
    return before, again, after


def test_kept_projections_answer_as_moto_s_own_after_every_change_in_place(stack):
    from moto.dynamodb.models import dynamodb_backends

    client = stack.client("dynamodb")
    ours = _kept_run(client, "kept-ours")
    with scans.motos_own_scans():
        theirs = _kept_run(client, "kept-moto")
    assert ours == theirs
    before, again, after = ours
    assert again == before
    changed = {item["member_id"]["S"] for page in after[1] for item in page["Items"]} - {
        item["member_id"]["S"] for page in before[1] for item in page["Items"]
    }
    assert before != after and not changed  # same members, changed attributes
    items = [item for page in after[0] for item in page["Items"]]
    assert {"N": "1E+2"} in [item.get("scaled") for item in items]  # moto's normalising
    # the seam kept projections of our table's items, none of moto's own run
    backend = dynamodb_backends[ACCOUNT][REGION]
    kept = [i for i in backend.get_table("kept-ours").all_items() if scans._PROJECTED in i.__dict__]
    assert kept
    assert not any(
        scans._PROJECTED in i.__dict__ for i in backend.get_table("kept-moto").all_items()
    )


def test_kept_projections_follow_changes_made_while_the_seam_is_off_and_restored_tables(stack):
    client = stack.client("dynamodb")
    _create_table(client, "kept", ("member_id", "S"), ("entry_key", "S"))
    for item in _items(12):
        client.put_item(TableName="kept", Item=item)
    _projected_pages(client, "kept")  # kept
    with scans.motos_own_scans():
        _changes_in_place(client, "kept")
        theirs = _projected_pages(client, "kept")
    assert _projected_pages(client, "kept") == theirs

    backup = client.create_backup(TableName="kept", BackupName="kept-backup")["BackupDetails"][
        "BackupArn"
    ]
    client.update_item(
        TableName="kept",
        Key=_key(1),
        UpdateExpression="SET kind = :k",
        ExpressionAttributeValues={":k": {"S": "after the backup"}},
    )
    client.restore_table_from_backup(TargetTableName="restored", BackupArn=backup)
    ours = _projected_pages(client, "restored"), _projected_pages(client, "kept")
    with scans.motos_own_scans():
        theirs = _projected_pages(client, "restored"), _projected_pages(client, "kept")
    assert ours == theirs
    assert ours[0] != ours[1]  # the restored table has the item as it was backed up


def test_a_caller_editing_a_scan_answer_leaves_the_next_scan_alone(stack):
    """Kept projections are never handed out: editing every part of an answer (through
    the lane's dicts or through JSON) changes nothing the next Scan answers."""
    from memberflow_local import lane

    client = stack.client("dynamodb")
    _create_table(client, "kept", ("member_id", "S"), ("entry_key", "S"))
    for item in _items(12):
        client.put_item(TableName="kept", Item=item)
    first = _projected_pages(client, "kept")
    expected = copy.deepcopy(first)

    def vandalise(node):
        if isinstance(node, dict):
            for value in list(node.values()):
                vandalise(value)
            node["vandalised"] = {"S": "yes"}
            for name in [n for n in node if n != "vandalised"][:1]:
                del node[name]
        elif isinstance(node, list):
            for value in node:
                vandalise(value)
            node.append("vandalised")

    before = lane.wire_answers.enabled
    try:
        for wire in (True, False):
            lane.wire_answers.enabled = wire
            answers = _projected_pages(client, "kept")
            assert answers == expected
            vandalise(answers)
            vandalise(first)
            assert _projected_pages(client, "kept") == expected
    finally:
        lane.wire_answers.enabled = before
    # a caller of moto's Table.scan itself edits what it gets: no effect either
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].get_table("kept")
    results, _, _ = table.scan({}, None, None, None, None, False, [["history"], ["kind"]])
    for result in results:
        result.attrs["history"].value.clear()
        result.attrs["kind"].value = "edited"
    request = {"ProjectionExpression": "#h, kind", "ExpressionAttributeNames": {"#h": "history"}}
    ours = client.scan(TableName="kept", **request)["Items"]
    with scans.motos_own_scans():
        assert ours == client.scan(TableName="kept", **request)["Items"]
    assert _projected_pages(client, "kept") == expected


def test_kept_projections_are_dropped_by_moto_s_in_place_writers_themselves(stack):
    """The kept answer is dropped by moto's own in-place writers (the update executor and
    legacy AttributeUpdates), whoever calls them: not only by the backend's UpdateItem."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from memberflow_local.tables import _backend

    client = stack.client("dynamodb")
    _create_table(client, "inplace", ("member_id", "S"), ("entry_key", "S"))
    for item in _items(4):
        client.put_item(TableName="inplace", Item=item)
    _projected_pages(client, "inplace")  # kept
    table = _backend(ACCOUNT, REGION).get_table("inplace")
    first = table.get_item(DynamoType(_key(1)["member_id"]), DynamoType(_key(1)["entry_key"]))
    second = table.get_item(DynamoType(_key(2)["member_id"]), DynamoType(_key(2)["entry_key"]))
    first.update_with_attribute_updates({"kind": {"Action": "PUT", "Value": {"S": "legacy"}}})
    tree = UpdateExpressionParser.make("SET kind = :k")
    values = {":k": {"S": "executor"}}
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    validated = UpdateExpressionValidator(
        tree,
        expression_attribute_names={},
        expression_attribute_values=values,
        item=second,
        table=table,
    ).validate()
    UpdateExpressionExecutor(validated, second, {}).execute()
    ours = _projected_pages(client, "inplace")
    with scans.motos_own_scans():
        assert ours == _projected_pages(client, "inplace")
    kinds = repr(ours)  # binaries and sets: not JSON
    assert "'legacy'" in kinds and "'executor'" in kinds
