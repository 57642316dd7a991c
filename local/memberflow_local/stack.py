"""The embedded local stack: every resource of template.yaml, on moto, in-process.

Nothing is declared twice: tables, functions, routes, schedules and state machines
are created through the AWS APIs (moto) from what template.yaml says. Lambda
invocations from the ASL engine are dispatched in-process to the handler the
template names (seam: ``LambdaSimpleBackend.invoke``).
"""

from __future__ import annotations

import base64
import gc
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import traceback
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from memberflow.webhooks.secrets import (
    DEV_MEMBERFLOW_SECRET,
    DEV_SHOPIFY_SECRET,
    DEV_WOOCOMMERCE_SECRET,
)
from memberflow_local import asl, dynamodb, iam, placeholders, ssm
from memberflow_local import budget as invocation_budget
from memberflow_local import schedule as schedules
from memberflow_local.budget import Deadline, Ended, LambdaTimeout
from memberflow_local.clock import VirtualClock, patch_moto
from memberflow_local.template import Resolver, Template, substitute_definition

log = logging.getLogger("memberflow.local")

REGION = "us-east-1"
ACCOUNT = "123456789012"
DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# Seconds (virtual clock) before a write shows in a global secondary index
# (docs/local-stack.md). AWS's is usually under a second, never zero.
DEFAULT_INDEX_LAG = 1.0

# Development defaults for the webhook secrets (docs/local-stack.md); override with
# the environment variables of the same names.
DEV_SECRETS = {
    "SHOPIFY_WEBHOOK_SECRET": DEV_SHOPIFY_SECRET,
    "WOOCOMMERCE_WEBHOOK_SECRET": DEV_WOOCOMMERCE_SECRET,
    "MEMBERFLOW_WEBHOOK_SECRET": DEV_MEMBERFLOW_SECRET,
}


# API Gateway's integration timeout (REST APIs), and its payload quota.
API_TIMEOUT_SECONDS = 29
API_PAYLOAD_MAX_BYTES = 10 * 1024 * 1024


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    # The function's Timeout x the stack's timeout_scale, as it runs (budget.Deadline).
    budget: Deadline | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.budget is None:
            return self.timeout_seconds * 1000
        return max(0, int(self.budget.remaining() * 1000))


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


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


def _collect_as_before() -> None:
    gc.unfreeze()
    if _gc["thresholds"] is not None:
        gc.set_threshold(*_gc["thresholds"])
        _gc["thresholds"] = None


class LocalStack:
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
        dynamodb.enable_fast_lane()
        placeholders.install()
        ssm.install()
        iam.install()
        dynamodb.index_lag.configure(
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
            dynamodb.disable_fast_lane()
            iam.deactivate()
            dynamodb.index_lag.clear()
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

    # ================================================================ resources
    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name=REGION)

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"

    def _name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def _create_resources(self) -> None:
        t = self.template
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        resolver = Resolver(t, self.physical, pseudo)
        # Names first (functions and machines refer to each other through them).
        for logical_id in t.tables:
            name = self._name(logical_id)
            self.physical[logical_id] = {"Ref": name, "Arn": self._arn("dynamodb", f"table/{name}")}
        for logical_id, spec in t.functions.items():
            name = resolver.resolve(spec.name) if spec.name else self._name(logical_id)
            arn = self._arn("lambda", f"function:{name}")
            self.physical[logical_id] = {"Ref": name, "Arn": arn}
        for logical_id, spec in t.state_machines.items():
            name = resolver.resolve(spec.name)
            arn = self._arn("states", f"stateMachine:{name}")
            self.physical[logical_id] = {"Ref": arn, "Arn": arn, "Name": name}
        for logical_id, resource in t.of_type("AWS::Events::EventBus").items():
            name = resolver.resolve(resource["Properties"]["Name"])
            self.physical[logical_id] = {
                "Ref": name,
                "Name": name,
                "Arn": self._arn("events", f"event-bus/{name}"),
            }
        for logical_id in t.of_type("AWS::S3::Bucket"):
            # CloudFormation names a bucket without BucketName after the stack (lower case).
            name = self._name(logical_id).lower()
            self.physical[logical_id] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        for logical_id in t.of_type("AWS::Serverless::Api"):
            self.physical[logical_id] = {"Ref": "local"}
        for logical_id in t.of_type("AWS::Serverless::LayerVersion"):
            self.physical[logical_id] = {"Ref": self._arn("lambda", f"layer:{logical_id}:1")}

        self._create_tables()
        for logical_id in t.of_type("AWS::S3::Bucket"):
            self.client("s3").create_bucket(Bucket=self.physical[logical_id]["Ref"])
        role = self.client("iam").create_role(
            RoleName=f"{self.stack_name}-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self._create_functions(resolver, role)
        self._create_secrets(resolver)
        from memberflow_local.programme import create_parameter

        create_parameter(self, resolver)
        self._create_shops(resolver)
        self._create_channels(resolver)
        for logical_id, spec in t.state_machines.items():
            values = {k: str(resolver.resolve(v)) for k, v in spec.substitutions.items()}
            definition = substitute_definition(spec.definition_path.read_text(), values)
            self.client("stepfunctions").create_state_machine(
                name=self.physical[logical_id]["Name"],
                definition=definition,
                roleArn=role,
                type=spec.type,
            )
        self._create_api()
        self._create_schedules(role)

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for logical_id, props in self.template.tables.items():
            request = {
                "TableName": self.physical[logical_id]["Ref"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            if props.get("StreamSpecification"):
                request["StreamSpecification"] = props["StreamSpecification"]
                dynamodb.keep_stream_images()
            dynamodb.create_table(**request)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(
                    TableName=request["TableName"], TimeToLiveSpecification=ttl
                )

    def _create_functions(self, resolver: Resolver, role: str) -> None:
        lam = self.client("lambda")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("README", "code runs in-process from template.yaml's CodeUri")
        shared_env: dict[str, str] = {}
        for logical_id, spec in self.functions.items():
            env = {k: str(resolver.resolve(v)) for k, v in spec.environment.items()}
            for key, value in env.items():
                if shared_env.get(key, value) != value:
                    raise ValueError(
                        f"{logical_id}: {key} differs between functions; the local stack shares one environment"
                    )
                shared_env[key] = value
            lam.create_function(
                FunctionName=self.physical[logical_id]["Ref"],
                Runtime=spec.runtime,
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": buffer.getvalue()},
                Timeout=spec.timeout,
                MemorySize=spec.memory,
                Environment={"Variables": env},
            )
        if self.programme_file:
            shared_env["MEMBERFLOW_PROGRAMME_FILE"] = str(self.programme_file)
        self._saved_environ = {key: os.environ.get(key) for key in shared_env}
        self._saved_environ.setdefault(
            "MEMBERFLOW_PROGRAMME_FILE", os.environ.get("MEMBERFLOW_PROGRAMME_FILE")
        )
        os.environ.update(shared_env)
        self.function_environment = shared_env

    def _create_secrets(self, resolver: Resolver) -> None:
        from memberflow.config import load_programme
        from memberflow.webhooks.secrets import dev_secret_map

        values = {k: self.environ.get(k) or default for k, default in DEV_SECRETS.items()}
        self.webhook_secrets = values
        # one secret holding a map: a development secret for every key the programme's
        # sources name (docs/platforms/README.md); the variables above override theirs
        sources = load_programme(self.programme_file or None).sources
        self.webhook_secret_map = dev_secret_map(
            sources,
            {
                "shopify": values["SHOPIFY_WEBHOOK_SECRET"],
                "woocommerce": values["WOOCOMMERCE_WEBHOOK_SECRET"],
                "memberflow": values["MEMBERFLOW_WEBHOOK_SECRET"],
            },
        )
        self.client("secretsmanager").create_secret(
            Name=resolver.ref("WebhookSecretName"),
            SecretString=json.dumps(self.webhook_secret_map),
        )
        # a new stack in the same process: Powertools must not serve the last one's secret
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()

    def _create_shops(self, resolver: Resolver) -> None:
        """The local shops endpoint (memberflow_local.shops) with the development shop
        credentials, in the secret template.yaml names; the adapters are pointed at it
        through MEMBERFLOW_LOCAL_SHOPS_URL, a setting only the local stack sets."""
        from memberflow.config import load_programme
        from memberflow.shops.factory import dev_credentials_map
        from memberflow_local.shops import LocalShops, ShopTime

        sources = load_programme(self.programme_file or None).sources
        self.shop_credentials = dev_credentials_map(sources)
        self.client("secretsmanager").create_secret(
            Name=resolver.ref("ShopCredentialsSecretName"),
            SecretString=json.dumps(self.shop_credentials),
        )
        self.shops = LocalShops(clock=ShopTime(self.clock.now)).start()
        self.shops.add_sources(sources, self.shop_credentials)
        self._saved_environ.setdefault(
            "MEMBERFLOW_LOCAL_SHOPS_URL", os.environ.get("MEMBERFLOW_LOCAL_SHOPS_URL")
        )
        os.environ["MEMBERFLOW_LOCAL_SHOPS_URL"] = self.shops.url

    def _create_channels(self, resolver: Resolver) -> None:
        self.client("ses").verify_email_identity(EmailAddress=resolver.ref("EmailSender"))
        for logical_id in self.template.of_type("AWS::Events::EventBus"):
            self.client("events").create_event_bus(Name=self.physical[logical_id]["Name"])

    def _create_api(self) -> None:
        apigw = self.client("apigateway")
        api_id = apigw.create_rest_api(name=self.stack_name)["id"]
        resources = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api_id)["items"]}
        for route in self.routes:
            parent = "/"
            for part in route.path.strip("/").split("/"):
                path = parent.rstrip("/") + "/" + part
                if path not in resources:
                    resources[path] = apigw.create_resource(
                        restApiId=api_id, parentId=resources[parent], pathPart=part
                    )["id"]
                parent = path
            apigw.put_method(
                restApiId=api_id,
                resourceId=resources[route.path],
                httpMethod=route.method,
                authorizationType="AWS_IAM" if route.authorised else "NONE",
            )
        self.api_id = api_id

    def _create_schedules(self, role: str) -> None:
        scheduler = self.client("scheduler")
        self.schedules = self.template.schedules
        for entry in self.schedules:
            scheduler.create_schedule(
                Name=entry.name,
                ScheduleExpression=entry.expression,
                ScheduleExpressionTimezone=entry.timezone,
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={
                    "Arn": self.physical[entry.function]["Arn"],
                    "RoleArn": role,
                    "Input": "{}",
                },
            )

    # ================================================================ scheduled jobs
    def _due_jobs(self, after: datetime, until: datetime):
        jobs = []
        for entry in self.schedules:
            for fire_at in schedules.occurrences(entry.expression, after, until):
                if self._jobs_fired.get(entry.name) and fire_at <= self._jobs_fired[entry.name]:
                    continue
                jobs.append((fire_at, self._job(entry, fire_at)))
                break
        jobs.sort(key=lambda job: job[0])
        return jobs

    def _job(self, entry, fire_at: datetime):
        def run() -> None:
            self._jobs_fired[entry.name] = fire_at
            self.invoke(
                entry.function, {"schedule": entry.name, "scheduled_time": fire_at.isoformat()}
            )

        return run

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
        return self.clock.advance(timedelta(days=days, hours=hours, seconds=seconds))

    # ================================================================ Lambda
    def _install_lambda_seam(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        stack = self

        def invoke(self, function_name, qualifier, body, headers, response_headers):
            # seam: LambdaSimpleBackend.invoke -> the real handler, in-process
            logical_id = stack._logical_function(function_name)
            if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
                # Lambda's asynchronous invocation: accepted at once (202), run later
                stack.invoke_async(logical_id, json.loads(body) if body else {})
                return b""
            try:
                payload = json.loads(body) if body else {}
                result = stack.invoke(logical_id, payload)
                return json.dumps(result, default=str).encode()
            except LambdaTimeout as error:  # Lambda's own error, as Step Functions sees it
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(
                    {"errorType": error.error_type, "errorMessage": str(error)}
                ).encode()
            except Exception as error:  # noqa: BLE001 - reported as a Lambda function error
                response_headers["x-amz-function-error"] = "Unhandled"
                log.warning("%s failed: %s", logical_id, traceback.format_exc(limit=-4))
                return json.dumps(
                    {"errorType": type(error).__name__, "errorMessage": str(error)}
                ).encode()

        LambdaSimpleBackend.invoke = invoke
        asl.install()

    def _logical_function(self, name_or_arn: str) -> str:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        for logical_id, physical in self.physical.items():
            if physical.get("Ref") == name and logical_id in self.functions:
                return logical_id
        raise KeyError(f"no function {name_or_arn} in template.yaml")

    def handler(self, logical_id: str):
        """Import the handler template.yaml names for ``logical_id`` (CodeUri + Handler)."""
        with self._handler_lock:
            if logical_id not in self._handlers:
                spec = self.functions[logical_id]
                module_name, function_name = spec.handler.rsplit(".", 1)
                path = spec.code_uri / (module_name.replace(".", "/") + ".py")
                unique = f"memberflow_function_{logical_id}"
                module_spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[unique] = module
                module_spec.loader.exec_module(module)
                # Every invocation acts as the function's role (iam.py).
                self._handlers[logical_id] = iam.bind(
                    self, logical_id, getattr(module, function_name)
                )
            return self._handlers[logical_id]

    def invoke_async(self, logical_id: str, event: dict, retries: int = 2) -> None:
        """An asynchronous invocation (``InvocationType=Event``), as Lambda runs one: on
        its own, after the caller got its 202, retried twice on error (Lambda's default).
        Counted as busy work on the clock, so ``wait_idle``/``advance`` wait for it."""
        self.clock.execution_started()

        def run() -> None:
            try:
                for attempt in range(1 + retries):
                    try:
                        self.invoke(logical_id, event)
                        return
                    except Exception:  # noqa: BLE001 - Lambda retries, then drops the event
                        log.warning(
                            "%s async attempt %d failed: %s",
                            logical_id,
                            attempt + 1,
                            traceback.format_exc(limit=-4),
                        )
            finally:
                self.clock.execution_finished()

        threading.Thread(target=run, name=f"async-{logical_id}", daemon=True).start()

    def invoke(self, logical_id: str, event: dict, *, budget_seconds: float | None = None) -> Any:
        """Run the handler within its Timeout (x timeout_scale, real time); past it the
        invocation is ended and :class:`LambdaTimeout` raised, as Lambda reports it.
        ``budget_seconds`` (unscaled): a caller that gives up sooner (API Gateway)."""
        spec = self.functions[logical_id]
        handler = self.handler(logical_id)
        with self._invocation_lock:
            timeout = spec.timeout if budget_seconds is None else min(spec.timeout, budget_seconds)
            deadline = Deadline(timeout * self.timeout_scale)
            context = LambdaContext(
                function_name=self.physical[logical_id]["Ref"],
                memory_limit_in_mb=spec.memory,
                invoked_function_arn=self.physical[logical_id]["Arn"],
                aws_request_id=str(uuid.uuid4()),
                timeout_seconds=spec.timeout,
                # What the function knows of: its own Timeout (not API Gateway's).
                budget=deadline
                if timeout == spec.timeout
                else Deadline(spec.timeout * self.timeout_scale),
            )
            self.invocations[logical_id] = self.invocations.get(logical_id, 0) + 1
            try:
                with deadline:
                    return handler(event, context)
            except Ended:
                raise LambdaTimeout(context.aws_request_id, timeout) from None

    # ================================================================ HTTP
    def http(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | dict | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> HttpResponse:
        """Serve one request the way API Gateway (REST, proxy integration) would."""
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        if "?" in path:
            path, query = path.split("?", 1)
        if body is not None and len(body) > API_PAYLOAD_MAX_BYTES:
            return _gateway_error(413, "Request Too Long")
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method.upper():
                event = proxy_event(
                    method.upper(), route.path, path, match.groupdict(), query, headers, body
                )
                try:
                    result = self.invoke(route.function, event, budget_seconds=API_TIMEOUT_SECONDS)
                except LambdaTimeout as timeout:
                    if timeout.timeout_seconds >= API_TIMEOUT_SECONDS:  # API Gateway gave up first
                        return _gateway_error(504, "Endpoint request timed out")
                    return _gateway_error(502, "Internal server error")
                raw = result.get("body") or ""
                payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
                out_headers = dict(result.get("headers") or {})
                for key, values in (result.get("multiValueHeaders") or {}).items():
                    out_headers[key] = ", ".join(values)
                return HttpResponse(result.get("statusCode", 200), out_headers, payload)
        known = [r for r in self.routes if r.pattern.match(path)]
        status = 405 if known else 404
        reason = "method not allowed" if known else "no such route"
        return HttpResponse(
            status,
            {"Content-Type": "application/json"},
            json.dumps({"error": {"status": status, "field": "path", "reason": reason}}).encode(),
        )

    # ================================================================ local-only views
    def outbox(self, since: datetime | None = None) -> list[dict]:
        """What the channel adapters sent (the Messages table), oldest first."""
        from memberflow.store import Message

        # Local only: read the emulated table in place. A Scan would deep-copy every
        # message ever sent on each call, and a simulation asks once a simulated day.
        # Stored datetimes have one fixed-width UTC format, so they compare as text.
        at_least = ("sent_at", Message.sent_at.serialize(since)) if since is not None else None
        items = []
        for raw in dynamodb.table_items(Message.Meta.table_name, REGION, at_least=at_least):
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


def _gateway_error(status: int, message: str) -> HttpResponse:
    """An error API Gateway itself answers (its own body shape, not the handlers')."""
    return HttpResponse(
        status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": _GATEWAY_ERROR_TYPES[status]},
        json.dumps({"message": message}).encode(),
    )


_GATEWAY_ERROR_TYPES = {
    413: "RequestTooLargeException",
    502: "InternalServerErrorException",
    504: "IntegrationTimeoutException",
}


def proxy_event(
    method: str,
    resource: str,
    path: str,
    path_parameters: dict[str, str],
    query: str,
    headers: dict[str, str],
    body: bytes | None,
) -> dict:
    """An API Gateway REST proxy event, as Lambda receives it."""
    pairs = parse_qsl(query, keep_blank_values=True)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    encoded = False
    text = None
    if body is not None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": single or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "accountId": ACCOUNT,
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
