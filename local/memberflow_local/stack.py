"""The embedded local stack: every resource of template.yaml, on moto, in-process.

Nothing is declared twice: tables, functions, routes, schedules and state machines
are created through the AWS APIs (moto) from what template.yaml says. Lambda
invocations from the ASL engine are dispatched in-process to the handler the
template names (seam: ``LambdaSimpleBackend.invoke``).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from memberflow_local import (
    asl,
    dynamodb,
    iam,
    index_reads,
    lane,
    placeholders,
    provider_lane,
    ssm,
    tables,
)
from memberflow_local import budget as invocation_budget
from memberflow_local.account import ACCOUNT, REGION  # noqa: F401 (the stack's names)
from memberflow_local.clock import VirtualClock, patch_moto
from memberflow_local.gateway import ApiGateway, HttpResponse, proxy_event  # noqa: F401
from memberflow_local.lambda_runtime import LambdaContext, LambdaRuntime  # noqa: F401
from memberflow_local.resources import TemplateResources
from memberflow_local.template import Template

log = logging.getLogger("memberflow.local")

DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# Seconds (virtual clock) before a write shows in a global secondary index
# (docs/local-stack.md). AWS's is usually under a second, never zero.
DEFAULT_INDEX_LAG = 1.0


_gc = {"thresholds": None}
COLLECT_LESS = {"enabled": True}  # off: fast_paths.motos_own_paths()
# Objects allocated between two young-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 20_000


_real_pacing: dict = {}


def _pace_without_waiting() -> None:
    """The journey step's send pacing sleeps in invocation time, not real time
    (budget.py: the invocation's clock and Timeout still count every sleep)."""
    from memberflow.journeys import engine

    _real_pacing.setdefault("saved", (engine.Budget.clock, engine.Budget.pause))
    engine.Budget.clock = staticmethod(invocation_budget.invocation_clock)
    engine.Budget.pause = staticmethod(invocation_budget.invocation_sleep)


def _pace_as_before() -> None:
    from memberflow.journeys import engine

    if "saved" in _real_pacing:
        clock, pause = _real_pacing.pop("saved")
        engine.Budget.clock, engine.Budget.pause = staticmethod(clock), staticmethod(pause)


def _collect_less() -> None:
    """After start-up, the garbage collector leaves alone what start-up built (moto's
    service models, botocore's, the template, the handlers: the bulk of the heap), and
    collects the young generation less often: a running stack allocates many small
    objects per request, nearly all freed by reference counting. Collection was 8 % of
    the demo's CPU. Undone by stop() (the next stack's start-up is collected as usual)."""
    if not COLLECT_LESS["enabled"]:
        return
    if _gc["thresholds"] is None:
        _gc["thresholds"] = gc.get_threshold()
        _, middle, old = _gc["thresholds"]
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    gc.freeze()
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def _freeze_survivors(phase: str, info: dict) -> None:
    """What survives a full collection is the emulated services' state (items, histories)
    and lives as long as the stack: it is frozen too, so the next full collection walks
    only what was made since (full collections took 22.5 s of the full-size demo's CPU,
    6.8 s this way, peak memory unchanged). Frozen objects are still freed by reference
    counting; only a reference cycle among them that becomes garbage later waits for
    stop()."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def _collect_as_before() -> None:
    if _freeze_survivors in gc.callbacks:
        gc.callbacks.remove(_freeze_survivors)
    gc.unfreeze()
    if _gc["thresholds"] is not None:
        gc.set_threshold(*_gc["thresholds"])
        _gc["thresholds"] = None


class LocalStack(TemplateResources, LambdaRuntime, ApiGateway):
    """moto + the virtual clock + the real handlers, built from template.yaml."""

    def __init__(
        self,
        *,
        start: datetime = DEFAULT_START,
        stack_name: str = "memberflow-local",
        programme_file: str | None = None,
        template: Template | None = None,
        environ: dict[str, str] | None = None,
        index_lag: float = DEFAULT_INDEX_LAG,
        index_lag_real_time: bool = False,
        timeout_scale: float = 1.0,
        history_limit: int = asl.HISTORY_EVENTS_MAX,
    ):
        self.template = template or Template()
        self.stack_name = stack_name
        self.clock = VirtualClock(start)
        self.programme_file = programme_file
        self.environ = environ if environ is not None else os.environ
        self.physical: dict[str, dict[str, str]] = {}
        self.functions = self.template.functions
        self.routes = self.template.routes
        self._handlers: dict[str, Any] = {}
        self._handler_lock = threading.Lock()
        # In AWS every concurrent invocation has its own execution environment, so the
        # module globals of a handler (Powertools Logger and Metrics, which all share
        # the "memberflow" logger) are never used by two invocations at once. Here all
        # functions share one interpreter: invocations take turns, as they would if
        # each had its environment (the GIL runs one at a time anyway).
        self._invocation_lock = threading.RLock()
        self._mock = None
        self._jobs_fired: dict[str, datetime] = {}
        self.invocations: dict[str, int] = {}
        if index_lag < 0:
            raise ValueError("index_lag: must be >= 0 seconds")
        self.index_lag = index_lag
        self.index_lag_real_time = index_lag_real_time
        # Real seconds per second of a function's Timeout (and of API Gateway's 29 s):
        # tests and benchmarks pass < 1 to exercise the budgets cheaply.
        if timeout_scale <= 0:
            raise ValueError("timeout_scale: must be > 0")
        self.timeout_scale = timeout_scale
        self.history_limit = history_limit

    # ================================================================ lifecycle
    def start(self) -> LocalStack:
        from moto import mock_aws

        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }.items():
            os.environ[key] = value
        # Metrics are for CloudWatch; locally the report reads the store instead (and
        # Powertools' warning that a disabled flush published nothing is noise here).
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
                "core": {"reset_boto3_session": True},
            }
        )
        self._mock.start()
        dynamodb.install()
        lane.enable_fast_lane()
        provider_lane.enable()  # SES SendEmail, SNS Publish in process
        placeholders.install()
        ssm.install()
        iam.install()
        tables.index_lag.configure(
            self.index_lag, self.clock.now, real_time=self.index_lag_real_time
        )
        self._install_lambda_seam()
        asl.history_limit(self.history_limit)
        patch_moto(self.clock)
        self.clock.install()
        _pace_without_waiting()
        self.clock.set_job_source(self._due_jobs)
        self._create_resources()
        self.iam = iam.activate(self)  # from here on, functions act as their roles
        from memberflow import runtime

        runtime.reset()
        # Configuration is validated once, at start-up: a programme that fails its schema
        # stops the stack here with the field named, not at every request.
        try:
            runtime.app_context()
        except Exception:
            self.stop()
            raise
        _collect_less()
        return self

    def stop(self) -> None:
        from memberflow import clock as memberflow_clock
        from memberflow import runtime

        try:
            self.clock.wait_idle(timeout=30)
        finally:
            memberflow_clock.install(None)
            # The functions' environment belongs to this stack: the next one starts clean.
            for key, value in getattr(self, "_saved_environ", {}).items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            runtime.reset()
            lane.disable_fast_lane()
            provider_lane.disable()
            iam.deactivate()
            tables.index_lag.clear()
            asl.reset()
            asl.history_limit(asl.HISTORY_EVENTS_MAX)
            _pace_as_before()
            if getattr(self, "shops", None) is not None:
                self.shops.stop()
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
            _collect_as_before()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
        return self.clock.advance(timedelta(days=days, hours=hours, seconds=seconds))

    # ================================================================ local-only views
    def outbox(self, since: datetime | None = None) -> list[dict]:
        """What the channel adapters sent (the Messages table), oldest first."""
        from memberflow.store import Message

        # Local only: read the emulated table in place. A Scan would deep-copy every
        # message ever sent on each call, and a simulation asks once a simulated day.
        # Stored datetimes have one fixed-width UTC format, so they compare as text.
        at_least = ("sent_at", Message.sent_at.serialize(since)) if since is not None else None
        items = []
        for raw in index_reads.table_items(Message.Meta.table_name, REGION, at_least=at_least):
            m = Message.from_raw_data(raw)
            items.append(
                {
                    "member_id": m.member_id,
                    "journey": m.journey,
                    "cohort_id": m.cohort_id,
                    "step": m.step,
                    "channel": m.channel,
                    "template": m.template,
                    "locale": m.locale,
                    "sent_at": m.sent_at.isoformat(),
                    "provider_message_id": m.provider_message_id,
                    "coupon_code": m.coupon_code,
                }
            )
        return sorted(items, key=lambda m: (m["sent_at"], m["member_id"], m["step"]))
