"""A synthetic loyalty programme driven through memberflow's public interfaces.

Buyer model (buy-till-you-die, BG/NBD style): each member buys at its own rate
(gamma-distributed across members) until it silently drops out (after each purchase
with its own beta-distributed probability). Part of the base were customers before
go-live: they signed up over the previous ~2 years and arrive through the go-live
import (``POST /imports``, docs/import.md) with their true sign-up and order dates, so
the loyalty rules find some of them loyal, at risk or lapsed on day one (and no welcome
journey greets them); the rest sign up over the period. Orders, refunds, interactions, consent changes and erasures are
posted as signed Shopify, WooCommerce and Standard Webhooks deliveries; the virtual
clock advances day by day and the daily sweep fires as it would in AWS. Most members
gave a birthday (drawn from a stream of its own): Shopify's facts.birth_date metafield,
memberflow's member.upserted for WooCommerce, the import's field for the existing base.

**The planted effect** (documented and configurable): every journey message a member
receives gives it, with probability ``message_effect``, one extra purchase within the
next ``effect_days`` days — whether or not it has dropped out. Holdout members are
never messaged, so they never get it. The simulator keeps the counterfactual (would
the member have bought in the journey's window without that journey's messages?), so
the true uplift of each journey is known exactly and the report's estimate can be
checked against it. Each message's effect (and its planted order's value and refund)
is drawn from a stream of its own, seeded by the message: members' own behaviour does
not shift when a journey is added to the programme, and neither do the other journeys'
planted purchases.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from memberflow_local.platforms import SHOP, WOO_SOURCE, Deliveries
from memberflow_local.stack import LocalStack

FIRST = ["Ada", "Wei", "Mei", "Lin", "Jun", "Yan", "Hui", "Ming", "Li", "Xin", "Grace", "Tom"]
LAST = ["Lovelace", "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou"]
JOURNEYS = ("welcome", "activation", "dormancy_recall", "winback")


@dataclass
class SimulationConfig:
    members: int = 2000
    days: int = 180
    seed: int = 7
    existing_share: float = 0.35  # already customers at go-live (the go-live import)
    history_days: int = 730  # how far back their sign-ups reach
    mean_days_between_orders: float = 35.0
    rate_shape: float = 2.0  # gamma shape of purchase rates across members
    dropout_mean: float = 0.12  # mean probability of dropping out after a purchase
    dropout_concentration: float = 6.0
    order_value_median: float = 260.0
    refund_rate: float = 0.04
    woocommerce_share: float = 0.3
    email_consent_rate: float = 0.85
    consent_withdrawal_rate: float = 0.03  # over the period
    interactions_per_month: float = 1.5  # logins, app opens, check-ins (new members)
    erasures: int = 5
    message_effect: float = 0.2  # the planted effect, see the module docstring
    effect_days: int = 7
    coupon_use_rate: float = 0.6  # planted purchases that use the coupon just received
    birthday_share: float = 0.7  # members who gave the shop their birthday

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SimMember:
    index: int
    platform: str
    customer_id: int
    email: str
    first: str
    last: str
    rate: float  # orders per day
    dropout: float
    joins_on: int  # simulation day (negative: before go-live)
    birthday: str | None = None  # YYYY-MM-DD: sent as the platform's ingest takes it
    alive: bool = True
    member_id: str | None = None
    consent: bool = False
    erased: bool = False
    next_order_day: float = 0.0
    orders: list[tuple[datetime, str, str | None]] = field(
        default_factory=list
    )  # (at, cause, order key)


class Simulation:
    def __init__(self, stack: LocalStack, config: SimulationConfig):
        self.stack = stack
        self.config = config
        self.rng = random.Random(config.seed)
        self.deliveries = Deliveries.for_stack(stack)
        self.start = stack.clock.now()
        self.members: list[SimMember] = []
        # day -> [(when, journey, coupon, member index, the message's random stream)]
        self.planted: dict[int, list[tuple]] = defaultdict(list)
        self.seen_messages: set[tuple[str, str]] = set()
        self.by_member_id: dict[str, SimMember] = {}
        self.order_seq = 900_000_000
        self.errors: list[str] = []
        self.requests = 0
        self.coupons_used = 0  # planted purchases whose code the local shop took
        self.coupons_refused = 0  # ... and refused (unknown, expired, someone else's)
        self.stage_samples: list[dict] = []
        self.import_result: dict = {}

    # ------------------------------------------------------------------ population
    def _population(self) -> None:
        c = self.config
        for i in range(c.members):
            existing = self.rng.random() < c.existing_share
            joins = (
                -self.rng.randint(30, c.history_days)
                if existing
                else self.rng.randint(0, c.days - 1)
            )
            rate = self.rng.gammavariate(
                c.rate_shape, 1 / (c.rate_shape * c.mean_days_between_orders)
            )
            a = c.dropout_mean * c.dropout_concentration
            dropout = self.rng.betavariate(a, c.dropout_concentration - a)
            platform = "woocommerce" if self.rng.random() < c.woocommerce_share else "shopify"
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            email = f"member{i}@example.com"
            m = SimMember(i, platform, 8_000_000_000 + i, email, first, last, rate, dropout, joins)
            m.birthday = self._birthday(i)
            m.next_order_day = joins + self.rng.expovariate(rate) if rate > 0 else 1e9
            self.members.append(m)

    def _birthday(self, index: int) -> str | None:
        # a stream of its own: the population's other draws stay as they were
        rng = random.Random(f"{self.config.seed}|birthday|{index}")
        if rng.random() >= self.config.birthday_share:
            return None
        return (date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))).isoformat()

    # ------------------------------------------------------------------ HTTP
    def _post(self, delivery: tuple[str, bytes, dict]) -> dict | None:
        path, body, headers = delivery
        self.requests += 1
        response = self.stack.http("POST", path, body=body, headers=headers)
        if response.status >= 300:
            self.errors.append(f"{path} {response.status} {response.body[:200]!r}")
            return None
        return response.json()

    def _at(self, day: float) -> datetime:
        return self.start + timedelta(days=day)

    # ------------------------------------------------------------------ events
    def _sign_up(self, m: SimMember) -> None:
        at = self.stack.clock.now()
        if m.platform == "shopify":
            result = self._post(
                self.deliveries.shopify_customer(
                    m.customer_id, m.email, m.first, m.last, at, birthday=m.birthday
                )
            )
        else:
            result = self._post(
                self.deliveries.woo_customer(m.customer_id, m.email, m.first, m.last, at)
            )
            if result and m.birthday:  # no standard field: memberflow's own event
                birthday = self.deliveries.birthday
                self._post(birthday("woocommerce", WOO_SOURCE, m.customer_id, m.birthday, at))
        if result and result.get("member_ids"):
            m.member_id = result["member_ids"][0]
            self.by_member_id[m.member_id] = m
        if self.rng.random() < self.config.email_consent_rate:
            self._set_consent(m, True, at)

    def _set_consent(self, m: SimMember, granted: bool, at: datetime) -> None:
        if m.platform == "shopify":
            self._post(self.deliveries.shopify_email_consent(m.customer_id, m.email, granted, at))
        else:
            self._post(
                self.deliveries.consent(
                    "woocommerce", WOO_SOURCE, m.customer_id, "email", granted, at
                )
            )
        m.consent = granted

    def _order(self, m: SimMember, at: datetime, cause: str, coupon: str | None, rng=None) -> None:
        rng = rng or self.rng
        if coupon is not None and not self._checkout_takes(m, coupon, at):
            return  # the shop refused the code at the checkout: no order, none counted
        self.order_seq += 1
        value = Decimal(str(round(rng.lognormvariate(0, 0.6) * self.config.order_value_median, 2)))
        if m.platform == "shopify":
            delivery = self.deliveries.shopify_order_paid(
                self.order_seq, m.customer_id, m.email, value, at, coupon
            )
            key = f"shopify#{SHOP}#{self.order_seq}"
        else:
            delivery = self.deliveries.woo_order(
                self.order_seq, m.customer_id, m.email, value, at, coupon=coupon
            )
            key = f"woocommerce#{WOO_SOURCE}#{self.order_seq}"
        if self._post(delivery) is None:
            return
        refunded = rng.random() < self.config.refund_rate and m.platform == "shopify"
        if refunded:
            self._post(
                self.deliveries.shopify_refund(
                    self.order_seq + 5_000_000, self.order_seq, value, at + timedelta(minutes=30)
                )
            )
        else:
            m.orders.append((at, cause, key))

    def _checkout_takes(self, m: SimMember, coupon: str, at: datetime) -> bool:
        """A planted purchase with the journey's code goes through the local shop's
        checkout (memberflow_local.shops): the code must be one the shop holds, valid
        at ``at`` and this customer's. A code only rendered in the message (a shop
        without ``discounts.create``) is refused, as the platform would refuse it."""
        from memberflow_local.shops import CodeRefused

        shop = SHOP if m.platform == "shopify" else WOO_SOURCE
        try:
            self.stack.shops.use(shop, coupon, customer_id=str(m.customer_id), email=m.email, at=at)
        except (CodeRefused, KeyError):
            self.coupons_refused += 1
            return False
        self.coupons_used += 1
        return True

    # ------------------------------------------------------------------ the day loop
    def _base_orders_until(self, m: SimMember, day_end: float) -> list[float]:
        days = []
        while m.alive and m.next_order_day < day_end:
            days.append(m.next_order_day)
            if self.rng.random() < m.dropout:
                m.alive = False
            m.next_order_day += self.rng.expovariate(m.rate) if m.rate > 0 else 1e9
        return days

    def import_line(self, m: SimMember, order_days: list[float]) -> dict:
        """The member as the platform's export has it: sign-up and past orders, true dates."""
        orders = []
        for day in order_days:
            self.order_seq += 1
            value = Decimal(
                str(round(self.rng.lognormvariate(0, 0.6) * self.config.order_value_median, 2))
            )
            at = self._at(day)
            shop = SHOP if m.platform == "shopify" else WOO_SOURCE
            orders.append(
                {
                    "order_id": str(self.order_seq),
                    "paid_at": at.isoformat(),
                    "total": format(value, "f"),
                    "currency": "CNY",
                }
            )
            m.orders.append((at, "base", f"{m.platform}#{shop}#{self.order_seq}"))
        m.consent = self.rng.random() < self.config.email_consent_rate
        return {
            "platform": m.platform,
            "shop": SHOP if m.platform == "shopify" else WOO_SOURCE,
            "customer_id": str(m.customer_id),
            "email": m.email,
            "first_name": m.first,
            "last_name": m.last,
            "signed_up_at": self._at(m.joins_on).isoformat(),
            **({"birthday": m.birthday} if m.birthday else {}),
            "consent": {"email": m.consent},
            "orders": orders,
        }

    def backfill(self) -> None:
        """Go-live: the existing customers and their past orders, through the import."""
        from memberflow.members.identity import identity_key, new_member_id

        existing = sorted((m for m in self.members if m.joins_on < 0), key=lambda m: m.index)
        if not existing:
            return
        lines = [self.import_line(m, self._base_orders_until(m, 0)) for m in existing]
        body = "\n".join(json.dumps(line) for line in lines).encode()
        self.requests += 1
        response = self.stack.http(
            "POST", "/imports", body=body, headers={"Content-Type": "application/x-ndjson"}
        )
        if response.status not in (200, 202):
            raise RuntimeError(f"POST /imports answered {response.status}: {response.body[:300]!r}")
        if response.status == 202:
            self.stack.clock.wait_idle()
            status = self.stack.http("GET", response.headers["Location"]).json()
            if status["status"] != "SUCCEEDED":
                raise RuntimeError(f"the go-live import ended {status}")
            self.import_result = status["result"]
        else:
            self.import_result = response.json()["result"]
        for m in existing:
            shop = SHOP if m.platform == "shopify" else WOO_SOURCE
            m.member_id = new_member_id(identity_key(m.platform, shop, str(m.customer_id)), 0)
            self.by_member_id[m.member_id] = m

    def _observe_messages(self, day: int) -> None:
        for message in self.stack.outbox(since=self._at(day - 2)):
            key = (
                message["member_id"],
                message["journey"] + "#" + message["cohort_id"] + "#" + message["step"],
            )
            if key in self.seen_messages:
                continue
            self.seen_messages.add(key)
            m = self.by_member_id.get(message["member_id"])
            if m is None or m.erased:
                continue
            rng = random.Random(f"{self.config.seed}|{key[0]}|{key[1]}")  # this message's own
            if rng.random() < self.config.message_effect:
                when = day + rng.uniform(0.2, self.config.effect_days)
                coupon = (
                    message.get("coupon_code")
                    if rng.random() < self.config.coupon_use_rate
                    else None
                )
                self.planted[int(when)].append((when, message["journey"], coupon, m.index, rng))

    def run_day(self, day: int) -> None:
        c = self.config
        todays = []
        for m in self.members:
            if m.erased:
                continue
            if m.joins_on == day:
                todays.append((day + 0.0, "signup", m, None))
            if m.joins_on <= day:
                for order_day in self._base_orders_until(m, day + 1):
                    if order_day >= m.joins_on:
                        todays.append((order_day, "base", m, None))
                if (
                    m.member_id
                    and 0 <= day - max(m.joins_on, 0) < 30
                    and self.rng.random() < c.interactions_per_month / 30
                ):
                    todays.append((day + 0.5, "interaction", m, None))
                if m.consent and self.rng.random() < c.consent_withdrawal_rate / c.days:
                    todays.append((day + 0.6, "withdraw", m, None))
        streams = {}
        for when, journey, coupon, index, rng in self.planted.pop(day, []):
            todays.append((when, f"planted:{journey}", self.members[index], coupon))
            streams[(when, index)] = rng
        if c.erasures and day in self._erasure_days:
            candidates = [m for m in self.members if m.member_id and not m.erased]
            if candidates:
                todays.append((day + 0.9, "erase", self.rng.choice(candidates), None))
        todays.sort(key=lambda item: (item[0], item[2].index))
        for _when, kind, m, coupon in todays:
            at = self.stack.clock.now()
            if kind == "signup":
                self._sign_up(m)
            elif m.member_id is None or m.erased:
                continue
            elif kind == "base":
                self._order(m, at, kind, coupon)
            elif kind.startswith("planted:"):
                self._order(m, at, kind, coupon, streams[(_when, m.index)])
            elif kind == "interaction":
                self._post(
                    self.deliveries.interaction(
                        m.platform,
                        SHOP if m.platform == "shopify" else WOO_SOURCE,
                        m.customer_id,
                        self.rng.choice(["login", "app_open", "check_in"]),
                        at,
                    )
                )
            elif kind == "withdraw":
                self._set_consent(m, False, at)
            elif kind == "erase":
                response = self.stack.http("DELETE", f"/members/{m.member_id}")
                self.requests += 1
                if response.status < 300:
                    m.erased = True
                else:
                    self.errors.append(f"DELETE {response.status}")
        self.stack.advance(days=1)
        self._observe_messages(day + 1)

    def run(self, progress=None) -> None:
        self._population()
        c = self.config
        days = range(1, c.days)
        self._erasure_days = set(self.rng.sample(days, min(c.erasures, len(days))))
        self.backfill()
        for day in range(c.days):
            self.run_day(day)
            if progress is not None:
                progress(day, self.stack.clock.now())
