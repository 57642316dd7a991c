"""IAM on the local stack, the roles: each function's and state machine's policy
statements as aws-sam-translator translates template.yaml (policy templates expanded,
SAM's managed policies attached), intrinsics resolved against the stack's physical
names, and the decision of one action on one resource (moto's policy evaluator).
What a statement the local stack cannot evaluate grants: nothing (module doc of
:mod:`memberflow_local.iam`)."""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from memberflow_local.template import Resolver, Template

log = logging.getLogger("memberflow_local.iam")

ALLOWED = None
IMPLICIT = "implicit"  # no statement allows the action
EXPLICIT = "explicit"  # a statement denies it


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
