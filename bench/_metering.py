"""Counting what the journey engine costs: DynamoDB requests and request units per
function (a botocore hook, :class:`Meter`), item sizes by DynamoDB's rules, and the
members and journey windows the benchmarks build (bench/journeys.py, bench/calls.py)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def _size(value) -> int:
    """DynamoDB item size rules (attribute names + values), close enough to the byte."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.strip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _size(v) for k, v in inner.items())
    return 1


def item_size(item: dict | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


@dataclass
class Counter:
    requests: dict[str, int] = field(default_factory=dict)
    rru: float = 0.0
    wru: float = 0.0
    sends: int = 0
    # Every AWS call of any service ("dynamodb:GetItem", "ses:SendEmail", ...), failed
    # calls included: what a call budget counts. ``requests`` is DynamoDB's alone.
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counter) -> None:
        for k, v in other.requests.items():
            self.requests[k] = self.requests.get(k, 0) + v
        for k, v in other.calls.items():
            self.calls[k] = self.calls.get(k, 0) + v
        self.rru += other.rru
        self.wru += other.wru
        self.sends += other.sends

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class Meter:
    """Counts the AWS calls made inside a scope (botocore hook on every client): DynamoDB
    calls with their request units, and every call of every service in ``calls``."""

    def __init__(self, enrolments_table: str):
        self.enrolments_table = enrolments_table
        self.by_scope: dict[str, Counter] = {}
        self.local = threading.local()
        self.lock = threading.Lock()

    def scope(self) -> str | None:
        return getattr(self.local, "scope", None)

    def install(self):
        from botocore.client import BaseClient

        meter = self
        original = BaseClient._make_api_call

        def counted(client, operation_name, params):
            service = client.meta.service_model.service_name
            if meter.scope():
                meter.count_call(service, operation_name)
            response = original(client, operation_name, params)
            if service == "dynamodb" and meter.scope():
                meter.record(operation_name, params, response)
            return response

        BaseClient._make_api_call = counted
        return lambda: setattr(BaseClient, "_make_api_call", original)

    def record(self, op: str, params: dict, response: dict) -> None:
        rru = wru = 0.0
        table = params.get("TableName", "")
        gsi = 2 if table == self.enrolments_table else 1
        if op == "GetItem":
            units = max(1, math.ceil(item_size(response.get("Item")) / 4096))
            rru = units * (1 if params.get("ConsistentRead") else 0.5)
        elif op in ("Query", "Scan"):
            items = response.get("Items", [])
            scanned = response.get("ScannedCount", len(items))
            average = (sum(item_size(i) for i in items) / len(items)) if items else 200
            units = max(1, math.ceil(scanned * average / 4096))
            rru = units * (1 if params.get("ConsistentRead") else 0.5)
        elif op == "PutItem":
            wru = max(1, math.ceil(item_size(params.get("Item")) / 1024)) * gsi
        elif op == "UpdateItem":
            wru = max(1, math.ceil(item_size(response.get("Attributes")) / 1024)) * gsi
        elif op == "DeleteItem":
            wru = 1 * gsi
        elif op == "BatchWriteItem":
            for _table, requests in params.get("RequestItems", {}).items():
                for r in requests:
                    wru += max(1, math.ceil(item_size(r.get("PutRequest", {}).get("Item")) / 1024))
        elif op == "BatchGetItem":
            for items in response.get("Responses", {}).values():
                rru += sum(max(1, math.ceil(item_size(i) / 4096)) * 0.5 for i in items)
        elif op == "TransactWriteItems":
            wru = 2 * len(params.get("TransactItems", []))
        with self.lock:
            counter = self.by_scope.setdefault(self.scope(), Counter())
            counter.requests[op] = counter.requests.get(op, 0) + 1
            counter.rru += rru
            counter.wru += wru

    def count_call(self, service: str, operation: str) -> None:
        key = f"{service}:{operation}"
        with self.lock:
            calls = self.by_scope.setdefault(self.scope(), Counter()).calls
            calls[key] = calls.get(key, 0) + 1

    def take_scope(self, scope: str) -> Counter:
        """The counts of one scope (and forget them)."""
        with self.lock:
            return self.by_scope.pop(scope, Counter())

    def count_send(self) -> None:
        with self.lock:
            self.by_scope.setdefault(self.scope() or "journey", Counter()).sends += 1

    def take(self) -> Counter:
        with self.lock:
            total = Counter()
            for scope, counter in self.by_scope.items():
                if scope in ("journey", "enrol"):
                    total.add(counter)
            self.by_scope = {}
            return total


def _journey_days(config: dict) -> float:
    return sum(s["wait_days"] for s in config["steps"]) + config["exit_after_days"]


def _make_members(
    ids: list[str], stage: str, now, zones: list[str] | None = None, shop: str | None = None
) -> None:
    """``shop``: the members are customers of this Shopify shop (the identity keys a
    sign-up keeps on the member), so a coupon step creates their codes there."""
    from memberflow.members.identity import identity_key
    from memberflow.members.service import new_member
    from memberflow.runtime import app_context
    from memberflow.store import Member

    programme = app_context().programme
    with Member.batch_write() as batch:
        for member_id in ids:
            member = new_member(
                programme=programme,
                now=now,
                stage=stage,
                reason="bench",
                email=f"{member_id}@example.com",
                member_id=member_id,
            )
            member.first_name = "Bench"
            member.consent.email = True
            member.points_balance = 250
            if zones:
                member.timezone = zones[int(member_id.rsplit("-", 1)[-1]) % len(zones)]
            if shop:
                number = int(member_id.rsplit("-", 1)[-1])
                member.shop_identities = [identity_key("shopify", shop, str(700_000 + number))]
            batch.save(member)
