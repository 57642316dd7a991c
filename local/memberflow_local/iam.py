"""IAM on the local stack: every AWS call a function or a state machine makes is
authorised against its own role, as template.yaml deploys it.

The roles come from the template as aws-sam-translator translates it (offline, policy
templates such as ``DynamoDBCrudPolicy`` expanded into statements, plus the managed
policies SAM attaches), with intrinsics resolved against the local stack's physical
names. Each call is checked with moto's policy evaluator
(``moto.iam.access_control.IAMPolicy``) for the action and resource ARN AWS would
check, and a denied call fails as AWS fails it: the service's own error code and
message, parsed by botocore from the wire format the service uses.

Who is calling:
- a function, while its handler runs (``bind``: the local stack wraps every handler);
  threads the handler starts through ``ThreadPoolExecutor`` act as the function too;
- a state machine, while one of its tasks runs (seams: the task classes'
  ``_eval_execution``), e.g. its ``lambda:InvokeFunction`` of the journey step;
- anyone else (test set-up, the simulation driver, reports): the operator's admin
  credentials, unrestricted.

Hook (botocore, every client created after ``install``): ``before-parameter-build``
decides on the API parameters; ``before-call`` answers a denied call, registered
first and on ``before-call.dynamodb`` too, so it runs before the DynamoDB fast lane
(dynamodb.py) would answer the call itself.

Not covered (docs/local-stack.md): resource-based policies, permission boundaries,
SCPs, session policies, and most condition keys. A statement the local stack cannot
evaluate never grants more than AWS would: an Allow with NotResource, or with a
Condition other than ``StringEquals``/``StringLike`` on a key the local stack knows
(``CONDITION_KEYS``), grants nothing locally; a Deny with one denies unconditionally.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from xml.sax.saxutils import escape

from memberflow_local.account import ACCOUNT, REGION
from memberflow_local.iam_requests import condition_keys, requests
from memberflow_local.iam_roles import (  # noqa: F401 (iam.Role, iam.normalise...)
    ALLOWED,
    EXPLICIT,
    IMPLICIT,
    Principal,
    Role,
    Roles,
    normalise,
    roles_of,
)
from memberflow_local.template import Template


class Stack(Protocol):
    """What IAM reads of the local stack (memberflow_local.stack.LocalStack)."""

    template: Template
    physical: dict[str, dict[str, str]]
    stack_name: str


log = logging.getLogger("memberflow_local.iam")


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "memberflow_iam_principal", default=None
)
_state: dict[str, Any] = {"enforcing": True, "active": None}
_DENIAL = "memberflow_iam_denial"


# ---------------------------------------------------------------------- who calls
def activate(stack: Stack) -> Roles:
    """Build the roles of ``stack`` (after its resources exist) and enforce them."""
    roles = roles_of(
        stack.template, stack.physical, stack_name=stack.stack_name, region=REGION, account=ACCOUNT
    )
    _state["active"] = roles
    return roles


def deactivate() -> None:
    _state["active"] = None


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Calls made in this block are authorised as ``principal`` (None: unrestricted).

    Powertools Parameters caches values in module globals; in AWS each function has
    its own, so a function never reads a secret another function fetched: swapped in
    and out here (invocations take turns, stack.py)."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    token = _current.set(principal)
    saved = dict(DEFAULT_PROVIDERS)
    DEFAULT_PROVIDERS.clear()
    if principal is not None:
        DEFAULT_PROVIDERS.update(principal.providers)
    try:
        yield
    finally:
        if principal is not None:
            principal.providers = dict(DEFAULT_PROVIDERS)
        DEFAULT_PROVIDERS.clear()
        DEFAULT_PROVIDERS.update(saved)
        _current.reset(token)


def bind(stack: Stack, logical_id: str, handler: Callable) -> Callable:
    """``handler`` running as the function ``logical_id`` of ``stack``."""

    @functools.wraps(handler)
    def as_function(event, context):
        roles = getattr(stack, "iam", None)
        principal = roles.of_function(logical_id) if roles is not None else None
        with acting_as(principal):
            return handler(event, context)

    return as_function


@contextmanager
def enforcement(enabled: bool) -> Iterator[None]:
    """Switch enforcement off (or on) for a block: for parity tests only."""
    previous = _state["enforcing"]
    _state["enforcing"] = enabled
    try:
        yield
    finally:
        _state["enforcing"] = previous


def current() -> Principal | None:
    return _current.get()


# ---------------------------------------------------------------------- the denial
_CODES = {"ses": "AccessDenied", "sns": "AuthorizationError"}


def denial_message(
    service: str, principal: Principal, action: str, resource: str, verdict: str
) -> str:
    if service == "sns":  # SNS names its actions in capitals
        action = "SNS:" + action.split(":", 1)[1]
    if service == "ses":  # SES (v1) words its denials its own way
        return (
            f"User `{principal.arn}' is not authorized to perform `{action}' "
            f"on resource `{resource}'"
        )
    reason = (
        f"because no identity-based policy allows the {action} action"
        if verdict == IMPLICIT
        else "with an explicit deny in an identity-based policy"
    )
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {reason}"


def error_response(model, principal: Principal, action: str, resource: str, verdict: str):
    """The service's own AccessDenied response, parsed by botocore: (http, parsed)."""
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser

    service_model = model.service_model
    service = service_model.signing_name
    protocol = service_model.protocol
    message = denial_message(service, principal, action, resource, verdict)
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "json":
        code = _CODES.get(service, "AccessDeniedException")
        status = 400
        headers["Content-Type"] = (
            f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"
        )
        body = json.dumps({"__type": f"com.amazon.coral.service#{code}", "Message": message})
    elif protocol == "rest-json":
        code = _CODES.get(service, "AccessDeniedException")
        status = 403
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code})
        body = json.dumps({"Type": "User", "Message": message})
    elif protocol in ("query", "ec2"):
        code = _CODES.get(service, "AccessDenied")
        status = 403
        headers["Content-Type"] = "text/xml"
        namespace = (
            f"http://{service_model.endpoint_prefix}.amazonaws.com/doc/{service_model.api_version}/"
        )
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    elif protocol == "rest-xml":
        code, status = "AccessDenied", 403
        headers["Content-Type"] = "application/xml"
        body = (
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:  # pragma: no cover - no service memberflow calls speaks another protocol
        raise NotImplementedError(f"IAM denial for protocol {protocol}")
    raw = body.encode()
    http = AWSResponse("", status, headers, None)
    http._content = raw
    response = {"status_code": status, "headers": http.headers, "body": raw}
    parser = create_parser(protocol)
    parsed = parser.parse(response, model.output_shape)
    error_shape = service_model.shape_for_error_code(parsed.get("Error", {}).get("Code", ""))
    if error_shape is not None:
        parsed.update(parser.parse(response, error_shape))
    return http, parsed


# ---------------------------------------------------------------------- hooks
def authorise(params, model, context, **_kwargs) -> None:
    """botocore ``before-parameter-build``: decide, on the call's own parameters."""
    principal = _current.get()
    if principal is None or not _state["enforcing"] or context is None:
        return
    region = context.get("client_region") or "us-east-1"
    keys = condition_keys(model, params)
    for action, resource, named in requests(model, params, region, principal.account):
        verdict = principal.role.decide(action, resource, keys)
        if verdict is not ALLOWED:
            context[_DENIAL] = (principal, action, named, verdict)
            log.warning(
                "IAM denied %s: %s",
                model.name,
                denial_message(model.service_model.signing_name, principal, action, named, verdict),
            )
            return


def answer(model, context, **_kwargs):
    """botocore ``before-call``: a denied call gets AWS's error instead of an answer."""
    denial = context.get(_DENIAL) if context is not None else None
    if denial is None:
        return None
    return error_response(model, *denial)


def install() -> None:
    """Hook every botocore session created from now on; idempotent."""
    from botocore.handlers import BUILTIN_HANDLERS, REGISTER_FIRST

    for event, handler in (
        ("before-parameter-build", authorise),
        # Ahead of the DynamoDB fast lane: the most specific event name runs first.
        ("before-call.dynamodb", answer),
        ("before-call", answer),
    ):
        if (event, handler, REGISTER_FIRST) not in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.append((event, handler, REGISTER_FIRST))
    _install_execution_principal()
    _install_worker_threads()


def _install_execution_principal() -> None:
    """A state machine's tasks act as its role. moto runs each task on a thread of its
    own (the task timeout), so the principal is set where the task runs, from the
    execution's context object. Seams: ``StateTaskService._eval_execution`` (every
    service integration, ``arn:aws:states:::lambda:invoke`` included) and
    ``StateTaskLambda._eval_execution`` (a plain Lambda ARN as Resource)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    # ResourceEvalS3.eval_resource: a Distributed Map's ItemReader reads S3 as the role.
    for task in (StateTaskService, StateTaskLambda, ResourceEvalS3):
        if "_memberflow_iam" in task.__dict__:
            continue
        method = "eval_resource" if task is ResourceEvalS3 else "_eval_execution"
        original = task.__dict__[method]

        def _eval_execution(self, env, __original=original):
            token = _current.set(_execution_principal(env))
            try:
                return __original(self, env)
            finally:
                _current.reset(token)

        setattr(task, method, _eval_execution)
        task._memberflow_iam = True


def _execution_principal(env) -> Principal | None:
    roles = _state["active"]
    if roles is None:
        return None
    data = env.states.context_object.context_object_data
    return roles.of_execution(data["StateMachine"]["Id"], data["Execution"]["Name"])


def _install_worker_threads() -> None:
    """Threads a handler starts through a ThreadPoolExecutor (the RFM job's parallel
    Scan) act as the function, as they share its credentials in AWS."""
    from concurrent.futures import ThreadPoolExecutor

    if getattr(ThreadPoolExecutor.submit, "_memberflow_iam", False):
        return
    original = ThreadPoolExecutor.submit

    @functools.wraps(original)
    def submit(self, fn, /, *args, **kwargs):
        if _current.get() is None:
            return original(self, fn, *args, **kwargs)
        return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

    submit._memberflow_iam = True
    ThreadPoolExecutor.submit = submit
