"""Go-live import, end to end on the local stack: POST /imports (inline and through the
member import state machine), validation, re-runs, and what the rules derive."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from memberflow.config import load_programme
from memberflow.loyalty import points
from memberflow.members.identity import identity_key, new_member_id
from memberflow.store import Enrolment, LedgerEntry, Member, Order
from memberflow_local.stack import LocalStack

SHOP = "memberflow-demo.myshopify.com"


def customer(number: int, signed_up, orders=(), **extra) -> dict:
    return {
        "platform": "shopify",
        "shop": SHOP,
        "customer_id": str(number),
        "email": f"customer{number}@example.com",
        "signed_up_at": signed_up.isoformat(),
        "orders": [
            {
                "order_id": f"{number}-{i}",
                "paid_at": at.isoformat(),
                "total": total,
                "currency": "CNY",
            }
            for i, (at, total) in enumerate(orders)
        ],
        **extra,
    }


def jsonl(*customers: dict) -> bytes:
    return "\n".join(json.dumps(c) for c in customers).encode() + b"\n"


def member_of(number: int) -> str:
    return new_member_id(identity_key("shopify", SHOP, str(number)), 0)


def post(stack: LocalStack, data: bytes):
    return stack.http(
        "POST", "/imports", body=data, headers={"Content-Type": "application/x-ndjson"}
    )


def table_state() -> dict:
    return {
        model.__name__: sorted(
            json.dumps(i.serialize(), sort_keys=True, default=str) for i in model.scan()
        )
        for model in (Member, Order, LedgerEntry)
    }


@pytest.fixture
def stack():
    with LocalStack() as local:
        yield local


def test_import_derives_stage_tier_and_points_from_the_true_dates(stack):
    now = stack.clock.now()
    day = timedelta(days=1)
    programme = load_programme(None)
    loyal = customer(1, now - 420 * day, [(now - (400 - 20 * k) * day, "80.00") for k in range(20)])
    at_risk = customer(2, now - 300 * day, [(now - 250 * day, "50"), (now - 100 * day, "50")])
    lapsed_gold = customer(3, now - 500 * day, [(now - 450 * day, "12000.00")])
    big = customer(4, now - 90 * day, [(now - 60 * day, "6000"), (now - 30 * day, "6000")])
    opening = customer(
        5, now - 400 * day, [(now - 380 * day, "100"), (now - 30 * day, "50")], opening_points=20
    )
    never_bought = customer(6, now - 200 * day)
    response = post(stack, jsonl(loyal, at_risk, lapsed_gold, big, opening, never_bought))
    assert response.status == 200, response.body
    assert response.json()["result"]["imported"] == 6

    def view(number: int) -> dict:
        answer = stack.http("GET", f"/members/{member_of(number)}")
        assert answer.status == 200
        return answer.json()

    assert view(1)["stage"] == "loyal"  # >= 180 days active, >= 6 orders in 365 days
    assert view(2)["stage"] == "at_risk"  # 100 days without an order (rule: 60)
    lapsed = view(3)
    assert lapsed["stage"] == "lapsed" and lapsed["tier"] == "base"  # 12 months: reset
    assert lapsed["points_balance"] == 0  # earned 450 days ago: expired after 12 months
    assert view(6)["stage"] == "new"
    # Upgrade at once; each order earns at the tier held when it was paid.
    gold = view(4)
    assert gold["tier"] == "gold"
    assert gold["points_balance"] == points.points_for_order(
        Decimal(6000), "base", programme
    ) + points.points_for_order(Decimal(6000), "silver", programme)
    # Opening balance + the order of 30 days ago; the one of 380 days ago has expired.
    five = view(5)
    assert five["points_balance"] == 20 + 50
    ledger = {e.entry_key: int(e.points) for e in LedgerEntry.query(member_of(5))}
    assert sum(ledger.values()) == 70
    assert any(key.startswith("expiry#") and value == -100 for key, value in ledger.items())
    # Already customers: no welcome journey, no join bonus, no enrolment for the past.
    sfn = stack.client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for name, arn in machines.items():
        if not name.endswith("member-import"):
            assert sfn.list_executions(stateMachineArn=arn)["executions"] == [], name
    assert list(Enrolment.scan()) == []
    assert not [k for k in ledger if k.startswith("bonus#join")]
    # Every balance is the sum of its ledger, and each lot expires 12 months after its order.
    for member in Member.scan():
        ledger = list(LedgerEntry.query(member.member_id))
        assert int(member.points_balance) == sum(int(e.points) for e in ledger)
        for entry in ledger:
            if entry.kind == "earn":
                assert entry.expires_at == points.expires_at(entry.created_at, programme)
    assert Member.count() == 6


def test_the_platforms_next_webhooks_find_the_imported_member(stack):
    from memberflow_local.platforms import Deliveries

    now = stack.clock.now()
    response = post(
        stack, jsonl(customer(77, now - timedelta(days=40), [(now - timedelta(days=20), "10")]))
    )
    assert response.status == 200
    send = Deliveries.for_stack(stack)
    path, body, headers = send.shopify_customer(77, "customer77@example.com", "A", "B", now)
    assert stack.http("POST", path, body=body, headers=headers).status == 200
    path, body, headers = send.shopify_order_paid(
        900, 77, "customer77@example.com", Decimal("50"), now, None
    )
    assert stack.http("POST", path, body=body, headers=headers).status == 200
    stack.clock.wait_idle()
    assert Member.count() == 1  # no duplicate, no stub
    member = stack.http("GET", f"/members/{member_of(77)}").json()
    assert member["order_count"] == 2 and member["points_balance"] == 60
    sfn = stack.client("stepfunctions")
    welcome = stack.physical["JourneyStateMachine"]["Arn"]
    assert sfn.list_executions(stateMachineArn=welcome)["executions"] == []  # no welcome


def test_a_bad_line_refuses_the_file_naming_line_and_field_and_writes_nothing(stack):
    now = stack.clock.now()
    good = customer(1, now - timedelta(days=100), [(now - timedelta(days=50), "10")])
    bad = customer(2, now - timedelta(days=100), [(now - timedelta(days=50), "10")])
    bad["orders"][0]["currency"] = "USD"
    late = customer(3, now + timedelta(days=1))
    response = post(stack, jsonl(good, bad, late) + b"{not json\n")
    assert response.status == 400
    body = response.json()
    assert body["error"]["line"] == 2
    assert body["error"]["field"] == "line 2: orders[0].currency"
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (2, "orders[0].currency"),
        (3, "signed_up_at"),
        (4, "line"),
    ]
    assert Member.count() == 0 and Order.count() == 0 and LedgerEntry.count() == 0
    missing = dict(good)
    del missing["signed_up_at"]
    refused = post(stack, jsonl(missing)).json()
    assert refused["errors"] == [{"line": 1, "field": "signed_up_at", "reason": "is required"}]
    duplicate = post(stack, jsonl(good, good)).json()
    assert duplicate["errors"][0]["line"] == 2 and duplicate["errors"][0]["field"] == "customer_id"
    wrong_type = stack.http(
        "POST", "/imports", body=jsonl(good), headers={"Content-Type": "application/xml"}
    )
    assert wrong_type.status == 415 and Member.count() == 0
    # The next good request works.
    assert post(stack, jsonl(good)).status == 200
    assert Member.count() == 1


def test_a_rerun_changes_nothing_and_creates_no_duplicates(stack):
    now = stack.clock.now()
    data = jsonl(
        *(
            customer(
                n,
                now - timedelta(days=300),
                [(now - timedelta(days=40 * k + 5), "99.90") for k in range(n)],
            )
            for n in range(1, 6)
        )
    )
    first = post(stack, data).json()["result"]
    assert first["imported"] == 5 and first["orders"] == 15
    before = table_state()
    stack.advance(hours=1)
    again = post(stack, data).json()["result"]
    assert again["imported"] == 0 and again["already_present"] == 5 and again.get("orders", 0) == 0
    assert table_state() == before


def test_a_base_bigger_than_one_batch_runs_on_the_state_machine(stack):
    from memberflow.importing.service import BATCH_CUSTOMERS

    now = stack.clock.now()
    count = BATCH_CUSTOMERS + 30
    data = jsonl(
        *(
            customer(n, now - timedelta(days=400), [(now - timedelta(days=300), "10")])
            for n in range(count)
        )
    )
    started = post(stack, data)
    assert started.status == 202, started.body
    location = started.headers["Location"]
    stack.clock.wait_idle()
    status = stack.http("GET", location).json()
    assert status["status"] == "SUCCEEDED", status
    assert status["result"]["imported"] == count
    assert status["result"]["stage_lapsed"] == count
    assert Member.count() == count and Order.count() == count
    # Two batches, each its own child of the Distributed Map; ids only in the payload.
    sfn = stack.client("stepfunctions")
    arn = location.rsplit("/", 1)[-1]
    machine = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"].endswith("member-import")
    )
    execution = sfn.describe_execution(
        executionArn=machine.replace(":stateMachine:", ":execution:") + ":" + arn
    )
    assert "@" not in execution["input"] and "@" not in execution["output"]
    # Re-run through the state machine: nothing new.
    stack.advance(seconds=2)
    again = post(stack, data)
    stack.clock.wait_idle()
    result = stack.http("GET", again.headers["Location"]).json()["result"]
    assert result["imported"] == 0 and result["already_present"] == count
    assert Member.count() == count


def test_the_import_command_imports_through_the_api_and_prints_the_bad_lines(
    stack, tmp_path, capsys
):
    import threading

    from memberflow_local.cli import main
    from memberflow_local.server import serve

    server = serve(stack, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        now = stack.clock.now()
        good = customer(1, now - timedelta(days=30), [(now - timedelta(days=3), "10")])
        bad = dict(good, customer_id="2", signed_up_at="yesterday")
        path = tmp_path / "customers.jsonl"
        path.write_bytes(jsonl(good, bad))
        assert main(["import", str(path), "--api-url", url]) == 1
        assert "line 2: signed_up_at: must be an ISO 8601" in capsys.readouterr().err
        assert Member.count() == 0
        path.write_bytes(jsonl(good))
        assert main(["import", str(path), "--api-url", url]) == 0
        assert "imported 1 of 1 customers" in capsys.readouterr().out
        assert main(["import", str(path), "--api-url", url]) == 0
        assert "imported 0 of 1 customers (1 already present" in capsys.readouterr().out
    finally:
        server.shutdown()
        server.server_close()


def _template_without(logical_id: str, policy: dict):
    import copy

    from memberflow_local.template import Template

    doc = copy.deepcopy(Template().doc)
    props = doc["Resources"][logical_id]["Properties"]
    assert policy in props["Policies"], "the grant under test is no longer in template.yaml"
    props["Policies"] = [p for p in props["Policies"] if p != policy]
    return Template(doc=doc)


def test_without_its_s3_grants_the_import_fails_as_in_aws():
    """The ItemReader reads the manifest as the state machine's role; the API stores the
    file as its function's role (s3:PutObject on arn:aws:s3:::bucket/key)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )

    from memberflow.importing.service import BATCH_CUSTOMERS

    template = _template_without(
        "MemberImportStateMachine", {"S3ReadPolicy": {"BucketName": {"Ref": "ImportBucket"}}}
    )
    with LocalStack(template=template) as stack:
        assert ResourceEvalS3.__dict__.get("_memberflow_iam")  # the ItemReader seam
        now = stack.clock.now()
        data = jsonl(*(customer(n, now - timedelta(days=10)) for n in range(BATCH_CUSTOMERS + 1)))
        started = post(stack, data)
        assert started.status == 202
        stack.clock.wait_idle()
        status = stack.http("GET", started.headers["Location"]).json()
        assert status["status"] == "FAILED"
        assert Member.count() == 0  # Plan ran, no batch did
    template = _template_without(
        "MemberImportFunction", {"S3WritePolicy": {"BucketName": {"Ref": "ImportBucket"}}}
    )
    with LocalStack(template=template) as stack:
        now = stack.clock.now()
        data = jsonl(*(customer(n, now - timedelta(days=10)) for n in range(BATCH_CUSTOMERS + 1)))
        assert post(stack, data).status == 500
        assert Member.count() == 0
