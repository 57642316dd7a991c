"""Property: whatever a client sends to any route of template.yaml (generated bodies,
headers, query strings and path parameters, through the local stack), the answer is
never a 5xx; a refusal (4xx) writes nothing; and afterwards a good request to the same
route still works and the books still balance (nothing half-written).

One local stack for the module; examples per route are bounded so the whole module
stays within about 30 s."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberflow.config.programme import JOURNEYS, default_document
from memberflow.store import Cohort, Enrolment, ExternalIdentity, LedgerEntry, Member, identities
from memberflow_local import index_reads
from memberflow_local.programme import template_with_parameter
from memberflow_local.stack import REGION, LocalStack
from tests.integration.test_webhooks_support import Platforms, raw

ROUTES = LocalStack().routes  # read from template.yaml, not started
# Routes that read a body or a path parameter get more examples than those that read
# only headers and a query string (the report is also the dearest request).
EXAMPLES_PER_ROUTE = 25
EXAMPLES_PER_PLAIN_ROUTE = 10

HEADER_NAMES = [
    "Content-Type",
    "content-type",
    "Content-Length",
    "Authorization",
    "X-Shopify-Hmac-Sha256",
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-Event-Id",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Triggered-At",
    "X-WC-Webhook-Signature",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Delivery-ID",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
]
BODY_KEYS = ["points", "reference", "email", "sms", "member_ids", "cohort_key", "id", "type"]
QUERY_KEYS = ["email", "limit", "after", "cursor", "x"]

# Text that has broken parsers and stores: lone surrogates, NUL and control characters,
# right-to-left marks, very long strings.
nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e", "mbr_\x7f", " ", "%00", "../"]),
    st.integers(0, 5000).map(lambda n: "9" * n),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**40, max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(BODY_KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _dumps(value) -> bytes:
    # surrogatepass: a lone surrogate travels as the bytes a broken client would send
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


plausible_body = st.fixed_dictionaries(
    {},
    optional={
        "points": st.one_of(st.integers(-5, 50), scalars),
        "reference": st.one_of(st.sampled_from(["r-1", "r-2", "pos#9"]), nasty_text),
        "email": st.one_of(st.booleans(), scalars),
        "sms": st.one_of(st.booleans(), scalars),
        "member_ids": st.one_of(st.lists(st.sampled_from(["KNOWN", "mbr_nobody"]) | nasty_text)),
        "cohort_key": nasty_text,
    },
)
# Requests a client means, per route (some refused for their state: a reference reused
# for another amount, a member erased by an earlier example, not enough points).
MEANT_BODIES = {
    "/members/{member_id}/points/redeem": st.fixed_dictionaries(
        {"points": st.integers(1, 40), "reference": st.sampled_from(["r-1", "r-2"])}
    ),
    "/members/{member_id}/consent": st.fixed_dictionaries(
        {}, optional={"email": st.booleans(), "sms": st.booleans()}
    ),
    "/journeys/{journey}/enrollments": st.fixed_dictionaries(
        {"member_ids": st.lists(st.sampled_from(["KNOWN", "mbr_nobody"]), max_size=3)},
        optional={"cohort_key": st.sampled_from(["k-1", "k 2"])},
    ),
}
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_values.map(_dumps),
    plausible_body.map(_dumps),
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            b"[" * 50_000,
            b'{"points": ' + b"7" * 5000 + b', "reference": "r-big"}',
            b'{"points": 1e400, "reference": "r-inf"}',
            b'{"reference": "\\ud800", "points": 1}',
            b'{"points": 1, "points": 2, "reference": "r-dup"}',
            b"\xef\xbb\xbf{}",
            b"\xff\xfe{\x00}\x00",
            b"x" * 300_000,
        ]
    ),
)
headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | st.text(st.characters(codec="ascii"), max_size=12),
    st.sampled_from(CONTENT_TYPES) | st.text(max_size=40),
    max_size=5,
)
queries = st.one_of(
    st.just(""),
    st.dictionaries(st.sampled_from(QUERY_KEYS) | st.text(max_size=6), nasty_text, max_size=3).map(
        lambda d: urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in d.items()})
    ),
    st.text(max_size=40),
)


def path_values(name: str, known: str, meant: bool):
    if name == "journey":
        return st.sampled_from(JOURNEYS) if meant else st.sampled_from(JOURNEYS) | nasty_text
    if meant:
        return st.sampled_from([known, known, "mbr_nobody"])
    return st.sampled_from([known, "mbr_nobody", "m" * 3000, "a%20b"]) | nasty_text


@st.composite
def requests(draw, route, known: str):
    """Half the time a request a client means (right ids, JSON, a plausible body), so
    that state-dependent refusals are reached; otherwise anything."""
    meant = draw(st.booleans())
    path = route.path
    for name in [p.strip("{}") for p in route.path.split("/") if p.startswith("{")]:
        value = draw(path_values(name, known, meant))
        if not meant and draw(st.booleans()):
            value = quote(value.encode("utf-8", "surrogatepass"), safe="")
        if not value or "/" in value:
            value = value.replace("/", "") or "x"
        path = path.replace("{" + name + "}", value)
    sent_headers = {} if meant else draw(headers)
    if meant or draw(st.integers(0, 3)) > 0:  # mostly JSON, so that bodies reach the parsers
        sent_headers["Content-Type"] = "application/json"
    meant_body = MEANT_BODIES.get(route.path)
    if meant and meant_body is not None:
        body = _dumps(draw(meant_body))
    else:
        body = draw(bodies)
    if body is not None:
        body = body.replace(b"KNOWN", known.encode())
    return route.method, path, body, sent_headers, "" if meant else draw(queries)


def _binary(value: bytes) -> str:
    """Binary attributes (a KPI snapshot is stored compressed) in the digest."""
    return value.hex()


def fingerprint(stack: LocalStack) -> str:
    """A digest of every item of every table (read in place: cheap) and of the
    programme parameter's versions."""
    digest = hashlib.sha256()
    for logical_id in stack.template.tables:
        name = stack.physical[logical_id]["Ref"]
        items = sorted(
            json.dumps(item, sort_keys=True, default=_binary)
            for item in index_reads.table_items(name, REGION)
        )
        digest.update(json.dumps([logical_id, items]).encode())
    parameter = stack.function_environment.get("PROGRAMME_CONFIG_PARAMETER")
    if parameter:  # the programme's published versions
        versions = stack.client("ssm").get_parameter_history(Name=parameter)["Parameters"]
        digest.update(json.dumps(versions, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def assert_books_balance() -> None:
    """Nothing half-written: balances equal their ledgers, links and enrolments point
    at what exists."""
    members = {m.member_id: m for m in Member.scan()}
    for member in members.values():
        ledger = sum(int(e.points) for e in LedgerEntry.query(member.member_id))
        assert int(member.points_balance or 0) == ledger, member.member_id
    for record in ExternalIdentity.scan():
        if identities.is_identity(record):
            assert record.member_id in members, record.identity_key
    cohorts = {c.cohort_id for c in Cohort.scan()}
    for enrolment in Enrolment.scan():
        assert enrolment.cohort_id in cohorts, enrolment.enrolment_key


class World:
    """The module's stack, a member the fuzzer can aim at, and fresh members on demand."""

    def __init__(self, stack: LocalStack):
        self.stack = stack
        self.send = Platforms(stack)
        self.next_customer = 7100000000
        self.known = self.new_member(order=True)

    def new_member(self, *, order: bool = False) -> str:
        """A signed-up member (join bonus: enough points to redeem), optionally with a
        paid order."""
        self.next_customer += 1
        customer = json.loads(raw("shopify", "customers_create.json"))
        customer["id"] = self.next_customer
        customer["email"] = f"fuzz{self.next_customer}@example.com"
        created = self.send.shopify("customers/create", customer, f"c-{self.next_customer}")
        assert created.status == 200, created.body
        (member_id,) = created.json()["member_ids"]
        if not order:
            self.stack.clock.wait_idle()
            return member_id
        paid_order = json.loads(raw("shopify", "orders_paid.json"))
        paid_order["id"] = self.next_customer + 10**9
        paid_order["customer"]["id"] = self.next_customer
        paid_order["customer"]["email"] = customer["email"]
        paid_order["email"] = customer["email"]
        paid = self.send.shopify("orders/paid", paid_order, f"p-{self.next_customer}")
        assert paid.status == 200, paid.body
        self.stack.clock.wait_idle()
        return member_id


def _good(world: World, route) -> tuple[str, str, object, str]:
    """A request a client relies on, for each route (fails for a route added to
    template.yaml without one here)."""
    if route.path.startswith("/webhooks/"):
        return "webhook", route.path, None, ""
    fresh = route.path.startswith(("/members", "/journeys/"))
    member = world.new_member() if fresh else world.known
    paths = {
        "/members/{member_id}": f"/members/{member}",
        "/members/{member_id}/ledger": f"/members/{member}/ledger",
        "/members/{member_id}/journeys": f"/members/{member}/journeys",
        "/members/{member_id}/export": f"/members/{member}/export",
        "/members/{member_id}/consent": f"/members/{member}/consent",
        "/members/{member_id}/points/redeem": f"/members/{member}/points/redeem",
        "/journeys/{journey}/enrollments": "/journeys/activation/enrollments",
        "/members/{member_id}/suppression": f"/members/{member}/suppression",
    }
    if (route.method, route.path) == ("GET", "/reports/kpis"):  # a snapshot to read
        assert world.stack.http("POST", "/reports/kpis/snapshots").status == 202
        world.stack.clock.wait_idle()
    if (route.method, route.path) == ("GET", "/journeys/{journey}/enrollments/{cohort_id}"):
        entered = world.stack.http(
            "POST", "/journeys/activation/enrollments", body={"member_ids": [member]}
        )
        assert entered.status == 202, entered.body
        paths[route.path] = f"/journeys/activation/enrollments/{entered.json()['cohort_id']}"
    if route.path.startswith("/imports"):
        # A go-live import of one new customer (inline), or of more than one batch (the
        # state machine; its status is the GET route's good request).
        from memberflow.importing.service import BATCH_CUSTOMERS

        count = 1 if route.method == "POST" else BATCH_CUSTOMERS + 1
        first = world.next_customer * 1000
        lines = [
            json.dumps(
                {
                    "platform": "shopify",
                    "shop": "memberflow-demo.myshopify.com",
                    "customer_id": f"import-{first + n}",
                    "signed_up_at": "2025-01-01T00:00:00Z",
                }
            )
            for n in range(count)
        ]
        world.next_customer += 1
        if route.method == "POST":
            return "POST", "/imports", "\n".join(lines), ""
        started = world.stack.http("POST", "/imports", body="\n".join(lines))
        assert started.status == 202, started.body
        world.stack.clock.wait_idle()
        return "GET", started.headers["Location"], None, ""
    bodies = {
        ("PUT", "/programme"): default_document(),  # the current one: 200, nothing written
        ("PATCH", "/members/{member_id}/consent"): {"sms": True},
        ("POST", "/members/{member_id}/points/redeem"): {"points": 5, "reference": "good-1"},
        ("POST", "/journeys/{journey}/enrollments"): {"member_ids": [member]},
        ("PUT", "/members/{member_id}/suppression"): {"suppressed": True},
    }
    queries = {"/members": f"email=fuzz{world.next_customer}@example.com"}
    key = (route.method, route.path)
    known = {
        ("GET", "/members/{member_id}"),
        ("GET", "/members"),
        ("GET", "/members/{member_id}/ledger"),
        ("GET", "/members/{member_id}/journeys"),
        ("GET", "/members/{member_id}/export"),
        ("DELETE", "/members/{member_id}"),
        ("PATCH", "/members/{member_id}/consent"),
        ("POST", "/members/{member_id}/points/redeem"),
        ("POST", "/journeys/{journey}/enrollments"),
        ("GET", "/openapi.json"),
        ("GET", "/reports/kpis"),
        ("GET", "/privacy/data-requests"),
        ("GET", "/journeys/{journey}/enrollments/{cohort_id}"),
        ("PUT", "/members/{member_id}/suppression"),
        ("POST", "/reports/kpis/snapshots"),
        ("PUT", "/programme"),
        ("GET", "/programme"),
    }
    assert key in known, f"no good request for {key}: add one"
    return (
        route.method,
        paths.get(route.path, route.path),
        bodies.get(key),
        queries.get(route.path, ""),
    )


@pytest.fixture(scope="module")
def world():
    # The programme in SSM, as deployed: the programme routes have one to publish to.
    with LocalStack(template=template_with_parameter()) as stack:
        yield World(stack)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_no_client_input_gets_a_5xx_or_half_writes_on_any_route(world, route):
    stack = world.stack
    statuses: dict[int, int] = {}
    plain = "{" not in route.path and route.method == "GET"
    examples = EXAMPLES_PER_PLAIN_ROUTE if plain else EXAMPLES_PER_ROUTE

    # A member of its own for each member route: the DELETE route's examples erase theirs,
    # which would otherwise leave later routes only "member is erased" to answer.
    target = world.new_member() if "{member_id}" in route.path else world.known

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=requests(route, target))
    def run(request):
        method, path, body, sent_headers, query = request
        stack.clock.wait_idle()
        before = fingerprint(stack)
        try:
            response = stack.http(method, path, body=body, headers=sent_headers, query=query)
        except Exception as crash:  # a handler crash is a 502 from API Gateway
            raise AssertionError(f"handler raised {type(crash).__name__}: 502") from crash
        statuses[response.status] = statuses.get(response.status, 0) + 1
        assert response.status < 500, response.body[:300]
        if response.status >= 400:
            error = response.json()["error"]
            assert error["status"] == response.status and error["reason"], error
            stack.clock.wait_idle()
            assert fingerprint(stack) == before, f"a {response.status} wrote something"

    run()
    assert sum(statuses.values()) >= examples // 2
    stack.clock.wait_idle()
    assert_books_balance()

    method, path, body, query = _good(world, route)
    if method == "webhook":
        customer = json.loads(raw("shopify", "customers_create.json"))
        customer["id"] = world.next_customer + 5 * 10**8
        customer["email"] = f"late{world.next_customer}@example.com"
        if path == "/webhooks/shopify":
            response = world.send.shopify("customers/create", customer, "c-after-fuzz")
        elif path == "/webhooks/woocommerce":
            response = world.send.woo(
                "customer.created", raw("woocommerce", "customer.created.json"), "d-after-fuzz"
            )
        else:
            response = world.send.events(raw("memberflow", "member.upserted.json"), "msg_after")
    else:
        response = stack.http(method, path, body=body, query=query)
    assert 200 <= response.status < 300, (method, path, response.body[:300])
    stack.clock.wait_idle()
    assert_books_balance()
