"""Start-up: validate settings and programme configuration once, bind the store.

Handlers call :func:`app_context` on their first invocation (never at import). The
result is cached for the life of the Lambda execution environment; the local stack
calls :func:`reset` when it changes the environment or the configuration. A programme
read from SSM is read again once it is :data:`PROGRAMME_MAX_AGE` old (on
:func:`memberflow.clock.now`, so the virtual clock ages it too): a version published
with ``memberflow programme publish`` (memberflow.config.versions) is in use everywhere
at most PROGRAMME_MAX_AGE after it was published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from threading import Lock

from memberflow.clock import now
from memberflow.config import ConfigError, Programme, load_programme
from memberflow.store.models import MODELS_BY_TABLE_VARIABLE, bind_tables

log = logging.getLogger(__name__)

# How long a container keeps a programme read from SSM before it reads it again.
PROGRAMME_MAX_AGE = timedelta(seconds=300)

# The one journey state machine's ARN (template.yaml Globals, JourneyStateMachine).
JOURNEY_MACHINE_VARIABLE = "JOURNEY_STATE_MACHINE_ARN"
_MACHINE_ARN = re.compile(
    r"^arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
)


class SettingsError(ValueError):
    def __init__(self, variable: str, rule: str):
        super().__init__(f"setting {variable}: {rule}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """Deployment settings, read from the environment the template declares."""

    tables: dict[str, str]
    programme_parameter: str = ""
    programme_file: str = ""
    webhook_secret_name: str = "memberflow/webhook-secrets"
    shop_credentials_secret_name: str = "memberflow/shop-credentials"
    # The local stack's shops endpoint (memberflow_local.shops), set only by the local
    # stack: the shop adapters call it instead of the platforms. Loopback only.
    local_shops_url: str = ""
    email_sender: str = "members@example.com"
    outbound_webhook_url: str = ""
    journey_event_bus: str = ""
    journey_machine_arn: str = ""
    shop_erasure_function: str = ""
    region: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        tables = {}
        for variable in MODELS_BY_TABLE_VARIABLE:
            value = environ.get(variable, "")
            if not value:
                raise SettingsError(variable, "is required (the table's name)")
            tables[variable] = value
        for variable in ("IDEMPOTENCY_TABLE",):
            if environ.get(variable):
                tables[variable] = environ[variable]
        sender = environ.get("EMAIL_SENDER", "members@example.com")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", sender):
            raise SettingsError("EMAIL_SENDER", "must be an email address")
        url = environ.get("OUTBOUND_WEBHOOK_URL", "")
        if url and not url.startswith(("https://", "http://")):
            raise SettingsError("OUTBOUND_WEBHOOK_URL", "must be an http(s) URL")
        local_shops = environ.get("MEMBERFLOW_LOCAL_SHOPS_URL", "")
        if local_shops and not re.fullmatch(
            r"http://(127\.0\.0\.1|localhost):[0-9]+/?", local_shops
        ):
            raise SettingsError(
                "MEMBERFLOW_LOCAL_SHOPS_URL", "must be the local stack's http://127.0.0.1:<port>"
            )
        machine = environ.get(JOURNEY_MACHINE_VARIABLE, "")
        if machine and not _MACHINE_ARN.match(machine):
            raise SettingsError(
                JOURNEY_MACHINE_VARIABLE, "must be a Step Functions state machine ARN"
            )
        return cls(
            tables=tables,
            programme_parameter=environ.get("PROGRAMME_CONFIG_PARAMETER", ""),
            programme_file=environ.get("MEMBERFLOW_PROGRAMME_FILE", ""),
            webhook_secret_name=environ.get("WEBHOOK_SECRET_NAME", "memberflow/webhook-secrets"),
            shop_credentials_secret_name=environ.get(
                "SHOP_CREDENTIALS_SECRET_NAME", "memberflow/shop-credentials"
            ),
            local_shops_url=local_shops,
            email_sender=sender,
            outbound_webhook_url=url,
            journey_event_bus=environ.get("JOURNEY_EVENT_BUS", ""),
            journey_machine_arn=machine,
            shop_erasure_function=environ.get("SHOP_ERASURE_FUNCTION", ""),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        )


def _programme_text(settings: Settings) -> str:
    # Powertools Parameters: the same code path in AWS and on moto. Its own cache runs on
    # the wall clock, so the age is kept here (AppContext.programme) and this fetches.
    from aws_lambda_powertools.utilities import parameters

    from memberflow.config.versions import parameter_text

    # As published (memberflow.config.versions): JSON, or compressed when over 8 KB.
    return parameter_text(parameters.get_parameter(settings.programme_parameter, force_fetch=True))


def _load_programme(settings: Settings) -> tuple[Programme, str | None]:
    if settings.programme_parameter:
        text = _programme_text(settings)
        return load_programme(text), text
    return load_programme(settings.programme_file or None), None


@dataclass
class AppContext:
    settings: Settings
    _programme: Programme
    _programme_text: str | None = None
    _programme_read_at: datetime = field(default_factory=now)
    _shops: tuple | None = field(default=None, repr=False)

    @property
    def programme(self) -> Programme:
        """The programme; one read from SSM is read again after PROGRAMME_MAX_AGE. A
        changed document that fails validation is logged and the last valid one kept
        (a running stack keeps working; a cold start with it fails, naming the field)."""
        if self.settings.programme_parameter and now() - self._programme_read_at >= (
            PROGRAMME_MAX_AGE
        ):
            from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

            # Read again in PROGRAMME_MAX_AGE whatever happens: a failing read (SSM
            # throttling its shared quota, say) is not retried on every request.
            self._programme_read_at = now()
            try:
                text = _programme_text(self.settings)
            except (GetParameterError, ConfigError) as error:
                log.error("programme parameter unreadable, keeping the last one: %s", error)
                return self._programme
            if text != self._programme_text:
                try:
                    programme = load_programme(text)
                except ConfigError as error:
                    log.error("programme parameter refused, keeping the last one: %s", error)
                else:
                    if programme.version == self._programme.version:
                        # Written around `memberflow programme publish` (which refuses
                        # this): cohorts pin one name for two contents (fingerprints differ).
                        log.warning(
                            "programme changed under the same version %s", programme.version
                        )
                    self._programme, self._programme_text = programme, text
                    # Cohorts created from now on pin this version (journeys/engine.py).
                    log.info("programme version %s taken", programme.version)
        return self._programme

    def webhook_secrets(self):
        """The configured sources (programme ``sources``) with their secrets, read from
        one Secrets Manager secret holding a JSON map (Powertools Parameters, cached 5
        minutes). A source whose key is missing is a setting error naming the field."""
        from aws_lambda_powertools.utilities import parameters

        from memberflow.webhooks import WebhookSecrets
        from memberflow.webhooks.secrets import SourceConfigError

        value = parameters.get_secret(
            self.settings.webhook_secret_name, transform="json", max_age=300
        )
        if not isinstance(value, dict):
            raise SettingsError(self.settings.webhook_secret_name, "must be a JSON object")
        try:
            return WebhookSecrets.from_config(self.programme.sources, value)
        except SourceConfigError as bad:
            raise SettingsError(self.settings.webhook_secret_name, str(bad)) from None

    def discount_shops(self, *, attempts: int = 5, max_wait: float = 10.0):
        """The shops memberflow creates codes in (``sources[].discounts.create``), keyed by
        source name: ``{name: DiscountShop}`` (memberflow.shops). Reads the shop-credentials
        secret (Powertools Parameters, cached 5 minutes) only when a source creates codes;
        the adapters are kept while the programme and the credentials stay the same (their
        connection pools with them). A missing credential is a setting error naming the
        field. ``attempts``/``max_wait`` bound each request's retries (the member API,
        inside API Gateway's 29 s, passes a smaller budget)."""
        from memberflow.shops.factory import (
            ShopConfigError,
            creating_sources,
            discount_shops,
            load_credentials,
        )

        programme = self.programme
        if not creating_sources(programme.sources):
            return {}
        name = self.settings.shop_credentials_secret_name
        try:
            credentials = load_credentials(name)
            key = (
                programme.fingerprint,
                hashlib.sha256(json.dumps(credentials, sort_keys=True).encode()).hexdigest(),
                attempts,
                max_wait,
            )
            if self._shops is None or self._shops[0] != key:
                shops = discount_shops(
                    programme,
                    credentials,
                    endpoint=self.settings.local_shops_url or None,
                    attempts=attempts,
                    max_wait=max_wait,
                )
                self._shops = (key, shops)
        except ShopConfigError as bad:
            raise SettingsError(name, str(bad)) from None
        return self._shops[1]

    @cached_property
    def stepfunctions(self):
        import boto3

        return boto3.client("stepfunctions", region_name=self.settings.region)

    @cached_property
    def lambda_client(self):
        import boto3

        return boto3.client("lambda", region_name=self.settings.region)

    def start_shop_erasure(self, request: dict) -> None:
        """Hand a shop erasure (ids and a cursor only) to the shop-erasure function, as an
        asynchronous invocation: Lambda queues it and retries it on failure."""
        if not self.settings.shop_erasure_function:
            raise SettingsError("SHOP_ERASURE_FUNCTION", "is required for shop/redact")
        self.lambda_client.invoke(
            FunctionName=self.settings.shop_erasure_function,
            InvocationType="Event",
            Payload=json.dumps(request).encode(),
        )


_lock = Lock()
_cached: tuple[tuple, AppContext] | None = None


def app_context(environ: Mapping[str, str] | None = None) -> AppContext:
    """Validated settings + programme, built once per environment snapshot."""
    global _cached
    environ = os.environ if environ is None else environ
    key = tuple(sorted((k, v) for k, v in environ.items() if k.isupper()))
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        settings = Settings.from_environ(environ)
        programme, text = _load_programme(settings)
        bind_tables(settings.tables, settings.region)
        if settings.tables.get("IDEMPOTENCY_TABLE"):
            from memberflow.store import receipts

            receipts.bind(settings.tables["IDEMPOTENCY_TABLE"], settings.region)
        context = AppContext(settings, programme, text)
        _cached = (key, context)
        return context


def reset() -> None:
    global _cached
    with _lock:
        _cached = None


__all__ = ["AppContext", "ConfigError", "Settings", "SettingsError", "app_context", "reset"]
