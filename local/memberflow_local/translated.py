"""template.yaml as the SAM transform emits it, evaluated for one stack (names, ARNs,
each role's statements), and the checks of that document: IAM routes use
resource-based permissions, no fixed name collides between two stacks, tables are
retained with point-in-time recovery. ``python -m memberflow_local.translated`` runs
them (``make template-check``); ``--write-definitions DIR`` writes the state machines'
definitions as deployed (``make asl``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from memberflow_local.template import (
    SUBSTITUTION,
    Template,
    check_transform,
    substitute_definition,
)

# ---------------------------------------------------------------- translated checks
# The name property of each resource type whose name is unique in an account and region
# (a fixed value there collides when a second stack deploys); None: a type whose name is
# not a physical id. A type the transform emits that is in neither fails the check, so a
# new resource type gets a decision.
PHYSICAL_NAME: dict[str, str | None] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::SES::EmailIdentity": "EmailIdentity",
    "AWS::S3::Bucket": "BucketName",
    "AWS::ApiGateway::RestApi": None,  # names need not be unique
    "AWS::ApiGateway::Deployment": None,
    "AWS::ApiGateway::Stage": None,  # StageName is per API
    "AWS::Lambda::Permission": None,
}
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


class Translated:
    """template.yaml as the SAM transform emits it, evaluated for one stack: what AWS
    creates (names, ARNs, each role's statements) for a stack name and parameters."""

    def __init__(self, out: dict, stack_name: str = "memberflow", **parameters: str):
        self.out = out
        self.resources: dict[str, dict] = out["Resources"]
        self.stack_name = stack_name
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in out.get("Parameters", {}).items()
        }
        unknown = set(parameters) - set(self.parameters)
        if unknown:
            raise KeyError(f"no such template parameters: {sorted(unknown)}")
        self.parameters.update(parameters)
        self.pseudo = {**PSEUDO, "AWS::StackName": stack_name, "AWS::NoValue": None}

    def condition(self, name: str) -> bool:
        return bool(self.value(self.out.get("Conditions", {})[name]))

    def exists(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def physical(self, logical_id: str) -> str:
        """A resource's name or ARN as CloudFormation would make it (generated names are
        unique per stack; its ARN where the type's Ref is one)."""
        resource = self.resources[logical_id]
        prop = PHYSICAL_NAME.get(resource["Type"])
        name = self.value(resource.get("Properties", {}).get(prop)) if prop else None
        name = name or f"{self.stack_name}-{logical_id}-GENERATED"
        region, account = self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"]
        arns = {
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{account}:policy/{name}",
            "AWS::Lambda::LayerVersion": f"arn:aws:lambda:{region}:{account}:layer:{name}:1",
        }
        return arns.get(resource["Type"], name)

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name, region, account = (
            self.physical(logical_id),
            PSEUDO["AWS::Region"],
            PSEUDO["AWS::AccountId"],
        )
        return {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{name}",
            "AWS::Scheduler::Schedule": f"arn:aws:scheduler:{region}:{account}:schedule/default/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        }.get(kind, name)

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical(name)

    def value(self, node: Any) -> Any:
        """Evaluate the intrinsic functions the transform leaves in a node."""
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.arn(logical) if attribute == "Arn" else self.physical(logical)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                extra = {k: self.value(v) for k, v in extra.items()}

                def sub(match: re.Match) -> str:
                    name = match.group(1)
                    if name in extra:
                        return str(extra[name])
                    if "." in name:
                        logical, attribute = name.split(".", 1)
                        return str(self.value({"Fn::GetAtt": [logical, attribute]}))
                    return str(self.ref(name))

                return SUBSTITUTION.sub(sub, text)
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Condition":
                return self.condition(arg)
        return {k: self.value(v) for k, v in node.items()}

    def role_statements(self, logical_id: str) -> list[dict]:
        """Every statement of the role of a function or state machine, evaluated."""
        props = self.resources[logical_id]["Properties"]
        role_id = props.get("Role", props.get("RoleArn"))["Fn::GetAtt"][0]
        statements = []
        for policy in self.resources[role_id]["Properties"].get("Policies", []):
            document = self.value(policy["PolicyDocument"])
            found = document["Statement"]
            statements.extend(found if isinstance(found, list) else [found])
        return statements

    def allows(
        self, logical_id: str, action: str, resource: str, conditions: dict | None = None
    ) -> bool:
        """Does the role of ``logical_id`` allow ``action`` on ``resource``? (moto's IAM
        evaluator, on the statements the transform emitted; identity policies only.)"""
        from moto.iam.access_control import IAMPolicyStatement, PermissionResult

        results = [
            IAMPolicyStatement(statement).is_action_permitted(
                action, resource, incoming_condition_values=conditions
            )
            for statement in self.role_statements(logical_id)
        ]
        return PermissionResult.PERMITTED in results and PermissionResult.DENIED not in results

    def named_resources(self) -> dict[tuple[str, str], str]:
        """(type, physical name) -> logical id, for every resource with a fixed name."""
        named = {}
        for logical_id, resource in self.resources.items():
            kind = resource["Type"]
            if kind not in PHYSICAL_NAME:
                raise KeyError(f"{logical_id}: {kind} is not in PHYSICAL_NAME (decide its name)")
            prop = PHYSICAL_NAME[kind]
            if prop and self.exists(logical_id) and resource.get("Properties", {}).get(prop):
                named[(kind, self.physical(logical_id))] = logical_id
        return named


def translated_problems(out: dict) -> list[str]:
    """What would break a deployed stack, read off the translated template."""
    problems = []
    body = out["Resources"]["MemberflowApi"]["Properties"]["Body"]
    permissions = [
        r["Properties"] for r in out["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"
    ]
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration", {})
            route = f"{method.upper()} {path}"
            if {"AWS_IAM": []} in operation.get("security", []) and "credentials" in integration:
                problems.append(
                    f"{route}: IAM route calls Lambda with credentials {integration['credentials']!r}"
                    " (a caller with only execute-api:Invoke gets a 500); set Auth.InvokeRole: NONE"
                )
            function = re.search(r"\$\{(\w+)\.Arn\}", json.dumps(integration.get("uri"))).group(1)
            source = f"/{method.upper()}" + re.sub(r"\{[^}]+\}", "*", path)
            if not any(
                p["FunctionName"] == {"Ref": function}
                and p["Principal"] == "apigateway.amazonaws.com"
                and p["SourceArn"]["Fn::Sub"][0].endswith(source)
                for p in permissions
            ):
                problems.append(
                    f"{route}: no resource-based permission lets API Gateway invoke {function}"
                )
    stacks = [Translated(out, name) for name in ("memberflow", "memberflow-staging")]
    first, second = (stack.named_resources() for stack in stacks)
    for key in sorted(set(first) & set(second)):
        problems.append(f"{first[key]}: {key[0]} named {key[1]!r} in every stack (collides)")
    for logical_id, resource in out["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if resource.get(policy) != "Retain":
                problems.append(f"{logical_id}: {policy} is not Retain")
        props = resource["Properties"]
        pitr = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
        if not pitr and "TimeToLiveSpecification" not in props:
            problems.append(f"{logical_id}: no point-in-time recovery")
    return problems


def write_definitions(out: dict, folder: Path) -> list[Path]:
    """Each state machine's definition as deployed (DefinitionSubstitutions applied, for
    a stack named memberflow), for a validator that knows nothing of SAM."""
    stack = Translated(out)
    template = Template()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for logical_id, spec in template.state_machines.items():
        substitutions = out["Resources"][logical_id]["Properties"].get(
            "DefinitionSubstitutions", {}
        )
        values = {k: str(stack.value(v)) for k, v in substitutions.items()}
        path = folder / spec.definition_path.name
        path.write_text(substitute_definition(spec.definition_path.read_text(), values))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m memberflow_local.translated")
    parser.add_argument("--write-definitions", metavar="DIR", type=Path)
    args = parser.parse_args(argv)
    out = check_transform()
    if args.write_definitions:
        for path in write_definitions(out, args.write_definitions):
            print(f"wrote {path}")
        return
    kinds: dict[str, int] = {}
    for resource in out["Resources"].values():
        kinds[resource["Type"]] = kinds.get(resource["Type"], 0) + 1
    print(f"template.yaml transforms: {len(out['Resources'])} resources")
    for kind, count in sorted(kinds.items()):
        print(f"  {count:3d} {kind}")
    problems = translated_problems(out)
    for problem in problems:
        print(f"  PROBLEM {problem}")
    if problems:
        raise SystemExit(f"{len(problems)} problem(s) in the translated template")
    print(
        "translated template: IAM routes use resource-based permissions, no fixed names "
        "collide between two stacks, tables retained with point-in-time recovery"
    )


if __name__ == "__main__":
    main()
