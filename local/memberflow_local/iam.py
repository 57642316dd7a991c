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
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from memberflow_local.template import Resolver, Template

if TYPE_CHECKING:
    from memberflow_local.stack import LocalStack

log = logging.getLogger("memberflow_local.iam")

ALLOWED = None
IMPLICIT = "implicit"  # no statement allows the action
EXPLICIT = "explicit"  # a statement denies it

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "memberflow_iam_principal", default=None
)
_state: dict[str, Any] = {"enforcing": True, "active": None}
_DENIAL = "memberflow_iam_denial"


# ---------------------------------------------------------------------- roles
def _glob(pattern: str) -> str:
    """An IAM pattern as moto's matcher needs it: moto reads the pattern as a regex
    after turning ``*`` into ``.*``; in IAM only ``*`` and ``?`` are wildcards."""
    return "".join("*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def normalise(document: dict, where: str) -> dict:
    """A policy document moto's evaluator reads exactly as IAM would.

    Actions are case-insensitive in IAM (compared lower-case here), resources are not.
    What the evaluator cannot judge never grants more than AWS would (module doc)."""
    statements = []
    for statement in _as_list(document.get("Statement", [])):
        statement = dict(statement)
        allow = statement.get("Effect") == "Allow"
        unsupported = [k for k in ("Condition", "NotResource") if k in statement]
        if allow and unsupported == ["Condition"] and _evaluable(statement["Condition"]):
            unsupported = []  # kept: Role.decide evaluates it on the request's keys
        if unsupported:
            if allow:
                log.warning("%s: an Allow with %s grants nothing locally", where, unsupported)
                continue
            statement.pop("Condition", None)
            if statement.pop("NotResource", None) is not None:
                statement["Resource"] = "*"
        if allow and "Resource" not in statement:
            continue  # IAM refuses such a policy at deployment
        for key in ("Principal", "NotPrincipal", "Sid"):
            statement.pop(key, None)
        for key in ("Action", "NotAction", "Resource"):
            if key not in statement:
                continue
            values = _as_list(statement[key])
            if not all(isinstance(v, str) for v in values):
                raise ValueError(f"{where}: {key} {values!r} did not resolve to strings")
            lower = key != "Resource"
            statement[key] = [_glob(v.lower() if lower else v) for v in values]
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


# Condition keys the local stack supplies from a request (condition_keys below), and
# the operators it evaluates; anything else in a Condition never grants locally.
CONDITION_KEYS = {"ses:fromaddress"}
CONDITION_OPERATORS = {"StringEquals", "StringLike"}


def _evaluable(condition: dict) -> bool:
    return all(
        operator in CONDITION_OPERATORS and all(key.lower() in CONDITION_KEYS for key in clauses)
        for operator, clauses in condition.items()
    )


def _condition_holds(condition: dict, keys: dict[str, str]) -> bool:
    """IAM's rule: every operator and every key must match; a key the request does not
    carry does not match; a list of values matches any one of them."""
    for operator, clauses in condition.items():
        for key, expected in clauses.items():
            value = keys.get(key.lower())
            if value is None:
                return False
            values = _as_list(expected)
            if operator == "StringEquals" and value not in values:
                return False
            if operator == "StringLike" and not any(
                re.fullmatch(_glob(v).replace("*", ".*"), value) for v in values
            ):
                return False
    return True


@dataclass
class Role:
    """One IAM role: its policy documents, evaluated with moto's evaluator."""

    name: str
    documents: list[dict]
    _decisions: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from moto.iam.access_control import IAMPolicy

        plain, self._conditional = [], []
        for doc in self.documents:
            statements = []
            for statement in doc["Statement"]:
                if "Condition" in statement:  # an Allow normalise() kept: evaluable
                    bare = {k: v for k, v in statement.items() if k != "Condition"}
                    policy = IAMPolicy(json.dumps({**doc, "Statement": [bare]}))
                    self._conditional.append((policy, statement["Condition"]))
                else:
                    statements.append(statement)
            plain.append({**doc, "Statement": statements})
        self._policies = [IAMPolicy(json.dumps(doc)) for doc in plain]

    def decide(self, action: str, resource: str, keys: dict | None = None) -> str | None:
        """``ALLOWED`` (None), ``IMPLICIT`` or ``EXPLICIT`` (a deny). ``keys``: the
        request's condition keys (lower-case names), for conditional Allows."""
        from moto.iam.access_control import PermissionResult

        key = (action.lower(), resource)
        if key not in self._decisions:
            results = {p.is_action_permitted(key[0], resource) for p in self._policies}
            if PermissionResult.DENIED in results:
                self._decisions[key] = EXPLICIT
            elif PermissionResult.PERMITTED in results:
                self._decisions[key] = ALLOWED
            else:
                self._decisions[key] = IMPLICIT
        verdict = self._decisions[key]
        if verdict == IMPLICIT and keys:
            for policy, condition in self._conditional:
                permitted = policy.is_action_permitted(key[0], resource)
                if permitted == PermissionResult.PERMITTED and _condition_holds(condition, keys):
                    return ALLOWED
        return verdict


@dataclass
class Principal:
    """A role as assumed by one caller (a function, or one state machine execution)."""

    role: Role
    session: str
    account: str
    providers: dict = field(default_factory=dict)  # Powertools Parameters, per function

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role.name}/{self.session}"


class _TolerantResolver(Resolver):
    """A reference to a resource the local stack does not create resolves to a name
    that matches nothing: the grant it makes is never more than AWS would give."""

    def ref(self, name: str) -> str:
        try:
            return super().ref(name)
        except KeyError:
            log.warning("IAM: !Ref %s is not created locally; its grants match nothing", name)
            return f"memberflow-local-unresolved-{name}"


class _Unresolved(dict):
    def __init__(self, logical_id: str):
        super().__init__()
        self.logical_id = logical_id

    def __missing__(self, attribute: str) -> str:
        return f"memberflow-local-unresolved-{self.logical_id}.{attribute}"


class _Physical(dict):
    def __missing__(self, logical_id: str) -> dict:
        return _Unresolved(logical_id)


@functools.cache
def _aws_managed_policies() -> dict:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)  # a few MB: read once


def _managed_policy(arn: str) -> dict | None:
    """An AWS managed policy's document, from moto's copy of them."""
    if not arn.startswith("arn:aws:iam::aws:policy/"):
        return None
    entry = _aws_managed_policies().get(arn.rsplit("/", 1)[-1])
    return None if entry is None else entry["Document"]


def role_documents(translated: dict, resolver: Resolver) -> dict[str, list[dict]]:
    """Policy documents per AWS::IAM::Role logical id, intrinsics resolved."""
    resources = translated["Resources"]
    documents: dict[str, list[dict]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource.get("Properties", {})
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        for arn in props.get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in resources:
                docs.append(resources[arn["Ref"]]["Properties"]["PolicyDocument"])
                continue
            arn = resolver.resolve(arn)
            document = _managed_policy(arn) if isinstance(arn, str) else None
            if document is None:
                log.warning("IAM: %s: managed policy %s unknown locally, ignored", logical_id, arn)
            else:
                docs.append(document)
        documents[logical_id] = docs
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource["Properties"]
            for role in props.get("Roles", []):
                if isinstance(role, dict) and role.get("Ref") in documents:
                    documents[role["Ref"]].append(props["PolicyDocument"])
    return {
        logical_id: [normalise(resolver.resolve(doc), logical_id) for doc in docs]
        for logical_id, docs in documents.items()
    }


@dataclass
class Roles:
    """The role of every function and state machine of one local stack."""

    account: str
    functions: dict[str, Role]  # function logical id -> role
    machines: dict[str, Role]  # state machine name -> role
    function_names: dict[str, str]  # function logical id -> physical name
    _principals: dict[str, Principal] = field(default_factory=dict)

    def of_function(self, logical_id: str) -> Principal:
        if logical_id not in self._principals:
            self._principals[logical_id] = Principal(
                self.functions[logical_id], self.function_names[logical_id], self.account
            )
        return self._principals[logical_id]

    def of_execution(self, machine_arn: str, execution: str) -> Principal | None:
        name = machine_arn.split(":stateMachine:", 1)[-1].split(":")[0]
        role = self.machines.get(name)
        return None if role is None else Principal(role, execution[:64], self.account)


def roles_of(
    template: Template,
    physical: dict[str, dict[str, str]],
    *,
    stack_name: str,
    region: str,
    account: str,
) -> Roles:
    """Each function's and state machine's role, from the translated template."""
    translated = template.translated()
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = _TolerantResolver(template, _Physical(physical), pseudo)
    documents = role_documents(translated, resolver)
    roles: dict[str, Role] = {}

    def role_for(owner: str, reference: Any) -> Role:
        if isinstance(reference, dict) and "Fn::GetAtt" in reference:
            target = reference["Fn::GetAtt"]
            logical = target[0] if isinstance(target, list) else target.split(".", 1)[0]
            if logical in documents:
                if logical not in roles:
                    roles[logical] = Role(f"{stack_name}-{logical}", documents[logical])
                return roles[logical]
        # A role made outside this template: its policies are unknown here.
        log.warning(
            "IAM: %s: role %s is not in the template; it is granted nothing", owner, reference
        )
        return Role(str(resolver.resolve(reference)).rsplit("/", 1)[-1], [])

    functions, machines, names = {}, {}, {}
    for logical_id, resource in translated["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and logical_id in physical:
            functions[logical_id] = role_for(logical_id, props.get("Role"))
            names[logical_id] = physical[logical_id]["Ref"]
        elif resource["Type"] == "AWS::StepFunctions::StateMachine" and logical_id in physical:
            machines[physical[logical_id]["Name"]] = role_for(logical_id, props.get("RoleArn"))
    return Roles(account=account, functions=functions, machines=machines, function_names=names)


# ---------------------------------------------------------------------- who calls
def activate(stack: LocalStack) -> Roles:
    """Build the roles of ``stack`` (after its resources exist) and enforce them."""
    from memberflow_local.stack import ACCOUNT, REGION

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


def bind(stack: LocalStack, logical_id: str, handler: Callable) -> Callable:
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


# ---------------------------------------------------------------------- requests
def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _dynamodb(op: str, params: dict, region: str, account: str) -> list[tuple[str, str]]:
    def table(name: str, index: str | None = None) -> str:
        arn = (
            name if name.startswith("arn:") else _arn("dynamodb", region, account, f"table/{name}")
        )
        return f"{arn}/index/{index}" if index else arn

    if op == "TransactWriteItems":
        # Authorised item by item, each with its own action (no TransactWriteItems action).
        actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            (f"dynamodb:{actions[kind]}", table(item["TableName"]))
            for entry in params.get("TransactItems", [])
            for kind, item in entry.items()
            if kind in actions
        ]
    if op == "TransactGetItems":
        return [
            ("dynamodb:GetItem", table(entry["Get"]["TableName"]))
            for entry in params.get("TransactItems", [])
            if "Get" in entry
        ]
    if op in ("BatchGetItem", "BatchWriteItem"):
        # One authorisation per table, with the batch action (IAM has these actions).
        return [(f"dynamodb:{op}", table(name)) for name in params.get("RequestItems", {})]
    if "TableName" in params:
        return [(f"dynamodb:{op}", table(params["TableName"], params.get("IndexName")))]
    return [(f"dynamodb:{op}", "*")]


def _secret_arn(secret_id: str, region: str, account: str) -> str:
    """The secret's full ARN, random suffix included, as IAM sees it."""
    from moto.secretsmanager.models import secretsmanager_backends

    try:
        secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    except Exception:  # noqa: BLE001 - an unknown secret is answered by the service
        secret = None
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    return _arn("secretsmanager", region, account, f"secret:{secret_id}")


def _ses_identity(params: dict, region: str, account: str) -> str:
    from email.utils import parseaddr

    from moto.ses.models import ses_backends

    if params.get("SourceArn"):
        return params["SourceArn"]
    source = params.get("Source") or params.get("FromEmailAddress") or ""
    address = parseaddr(source)[1]
    identities = ses_backends[account][region].email_identities
    # The identity that authorises the sender: the address if verified as such, else
    # its domain.
    identity = address
    if address not in identities and address.split("@")[-1].lower() in identities:
        identity = address.split("@")[-1].lower()
    return _arn("ses", region, account, f"identity/{identity}")


def condition_keys(model, params: dict) -> dict[str, str]:
    """The condition keys (lower-case) AWS sets for this request, of CONDITION_KEYS."""
    from email.utils import parseaddr

    service = model.service_model.signing_name
    if service == "ses" and model.name.startswith("Send"):
        source = params.get("Source") or params.get("FromEmailAddress") or ""
        return {"ses:fromaddress": parseaddr(source)[1]}
    return {}


def requests(model, params: dict, region: str, account: str) -> list[tuple[str, str, str]]:
    """(action, resource ARN IAM checks, resource AWS names in its message) per
    authorisation one API call needs."""
    service = model.service_model.signing_name
    op = model.name
    out: list[tuple[str, str]]
    if service == "dynamodb":
        out = _dynamodb(op, params, region, account)
    elif service == "states":
        if "stateMachineArn" in params:
            out = [(f"states:{op}", params["stateMachineArn"])]
        elif "executionArn" in params:
            out = [(f"states:{op}", params["executionArn"])]
        else:
            out = [(f"states:{op}", "*")]
    elif service == "lambda":
        name = params.get("FunctionName", "")
        qualifier = params.get("Qualifier")
        if name.startswith("arn:"):
            arn = name
        elif ":function:" in name:  # partial ARN: 123456789012:function:name
            arn = f"arn:aws:lambda:{region}:{name}"
        elif name:
            arn = _arn("lambda", region, account, f"function:{name}")
        else:
            arn = "*"
        if qualifier and arn != "*":
            arn = f"{arn}:{qualifier}"
        action = "InvokeFunction" if op in ("Invoke", "InvokeWithResponseStream") else op
        out = [(f"lambda:{action}", arn)]
    elif service == "ses" and op.startswith("Send"):
        out = [(f"ses:{op}", _ses_identity(params, region, account))]
    elif service == "sns" and op in ("Publish", "PublishBatch"):
        target = params.get("TopicArn") or params.get("TargetArn")
        if target:
            out = [(f"sns:{op}", target)]
        else:  # SMS to a phone number: IAM checks "*", AWS names the number
            return [("sns:Publish", "*", params.get("PhoneNumber", "*"))]
    elif service == "events" and op == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries", [])}
        out = [
            (
                "events:PutEvents",
                bus
                if bus.startswith("arn:")
                else _arn("events", region, account, f"event-bus/{bus}"),
            )
            for bus in sorted(buses)
        ]
    elif service == "s3" and "Bucket" in params:
        # Object operations on arn:aws:s3:::bucket/key, bucket operations on the bucket;
        # HeadObject and ranged reads need s3:GetObject, as in AWS.
        bucket = params["Bucket"]
        action = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket"}.get(op, op)
        if "Key" in params:
            out = [(f"s3:{action}", f"arn:aws:s3:::{bucket}/{params['Key']}")]
        else:
            out = [(f"s3:{action}", f"arn:aws:s3:::{bucket}")]
    elif service == "secretsmanager" and "SecretId" in params:
        out = [(f"secretsmanager:{op}", _secret_arn(params["SecretId"], region, account))]
    elif service == "secretsmanager" and "SecretIdList" in params:
        out = [
            (f"secretsmanager:{op}", _secret_arn(s, region, account))
            for s in params["SecretIdList"]
        ]
    elif service == "ssm" and ("Name" in params or "Names" in params or "Path" in params):
        names = params.get("Names") or [params.get("Name") or params.get("Path")]

        def parameter(name: str) -> str:
            if name.startswith("arn:"):
                return name
            return _arn("ssm", region, account, f"parameter/{name.lstrip('/')}")

        out = [(f"ssm:{op}", parameter(name)) for name in names]
    else:
        # Anything else: the operation's action on "*" (a policy scoped to resources
        # never grants it, so the local stack is never more lenient).
        out = [(f"{service}:{op}", "*")]
    return [(action, resource, resource) for action, resource in out]


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
