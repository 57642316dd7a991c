"""Read template.yaml: the one declaration the local stack builds itself from.

Also the offline checks `make test` runs: the SAM transform (aws-sam-translator) on
a copy whose local paths are swapped for S3 URIs, as `sam package` would do.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")


@dataclass
class Route:
    method: str
    path: str  # /members/{member_id}
    function: str  # logical id
    authorised: bool

    @property
    def pattern(self) -> re.Pattern:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{regex}$")


@dataclass
class Schedule:
    function: str
    name: str
    expression: str
    timezone: str = "UTC"


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any]
    timeout: int
    memory: int
    runtime: str
    architectures: list[str]
    events: dict[str, Any] = field(default_factory=dict)
    name: Any = None  # FunctionName, when the template fixes one (per stack)


@dataclass
class StateMachineSpec:
    logical_id: str
    name: Any
    definition_path: Path
    substitutions: dict[str, Any]
    type: str = "STANDARD"


class Template:
    """template.yaml, or ``doc`` (a parsed copy, e.g. with a grant taken away) whose
    relative paths (CodeUri, DefinitionUri) are read from beside ``path``."""

    def __init__(self, path: Path = TEMPLATE_PATH, doc: dict | None = None):
        self.path = path
        if doc is None:
            doc = cfn_yaml.load(str(path))
        self.doc = json.loads(json.dumps(doc, default=str))
        self.resources: dict[str, dict] = self.doc["Resources"]
        self.parameters: dict[str, Any] = {
            name: spec.get("Default", "") for name, spec in self.doc.get("Parameters", {}).items()
        }
        self.globals = self.doc.get("Globals", {}).get("Function", {})

    def translated(self) -> dict:
        """The template as aws-sam-translator turns it into CloudFormation (offline):
        what AWS deploys, e.g. each function's role with its policy templates expanded."""
        key = json.dumps(self.doc, sort_keys=True)
        if key not in _translations:
            _translations[key] = translate(self.doc, self.path.parent)
        return _translations[key]

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    @property
    def tables(self) -> dict[str, dict]:
        return {k: v["Properties"] for k, v in self.of_type("AWS::DynamoDB::Table").items()}

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        out = {}
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            env = dict(self.globals.get("Environment", {}).get("Variables", {}))
            env.update(props.get("Environment", {}).get("Variables", {}))
            out[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=(self.path.parent / props["CodeUri"]).resolve(),
                handler=props.get("Handler", self.globals.get("Handler", "")),
                environment=env,
                timeout=props.get("Timeout", self.globals.get("Timeout", 3)),
                memory=props.get("MemorySize", self.globals.get("MemorySize", 128)),
                runtime=props.get("Runtime", self.globals.get("Runtime", "")),
                architectures=props.get("Architectures", self.globals.get("Architectures", [])),
                events=props.get("Events", {}),
                name=props.get("FunctionName"),
            )
        return out

    @property
    def routes(self) -> list[Route]:
        api_auth = {}
        for logical_id, resource in self.of_type("AWS::Serverless::Api").items():
            api_auth[logical_id] = resource["Properties"].get("Auth", {}).get("DefaultAuthorizer")
        routes = []
        for logical_id, spec in self.functions.items():
            for event in spec.events.values():
                if event["Type"] != "Api":
                    continue
                props = event["Properties"]
                api = props.get("RestApiId", {}).get("Ref")
                authorizer = props.get("Auth", {}).get("Authorizer", api_auth.get(api))
                routes.append(
                    Route(
                        method=props["Method"].upper(),
                        path=props["Path"],
                        function=logical_id,
                        authorised=authorizer not in (None, "NONE"),
                    )
                )
        return routes

    @property
    def schedules(self) -> list[Schedule]:
        out = []
        for logical_id, spec in self.functions.items():
            for name, event in spec.events.items():
                if event["Type"] in ("ScheduleV2", "Schedule"):
                    props = event["Properties"]
                    out.append(
                        Schedule(
                            function=logical_id,
                            name=f"{logical_id}{name}",
                            expression=props["ScheduleExpression"],
                            timezone=props.get("ScheduleExpressionTimezone", "UTC"),
                        )
                    )
        return out

    @property
    def state_machines(self) -> dict[str, StateMachineSpec]:
        out = {}
        for logical_id, resource in self.of_type("AWS::Serverless::StateMachine").items():
            props = resource["Properties"]
            out[logical_id] = StateMachineSpec(
                logical_id=logical_id,
                name=props.get("Name", logical_id),
                definition_path=(self.path.parent / props["DefinitionUri"]).resolve(),
                substitutions=props.get("DefinitionSubstitutions", {}),
                type=props.get("Type", "STANDARD"),
            )
        return out


def substitute_definition(text: str, values: dict[str, str]) -> str:
    """Resolve ``${Name}`` as SAM's DefinitionSubstitutions do.

    A regex, not ``string.Template``: ASL's ``$$.Execution`` must stay untouched.
    Raises KeyError naming any ``${...}`` left without a value.
    """

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for ${{{name}}} in DefinitionSubstitutions")
        return values[name]

    return SUBSTITUTION.sub(replace, text)


class Resolver:
    """Resolves the intrinsic functions the template uses, against local names."""

    def __init__(
        self, template: Template, physical: dict[str, dict[str, str]], pseudo: dict[str, str]
    ):
        self.template = template
        self.physical = physical  # logical id -> {"Ref": ..., "Arn": ..., "Name": ...}
        self.pseudo = pseudo

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template.parameters:
            return str(self.template.parameters[name])
        if name in self.physical:
            return self.physical[name]["Ref"]
        raise KeyError(f"!Ref {name}: not declared in template.yaml")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.physical[logical][attribute]
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                extra = {k: self.resolve(v) for k, v in extra.items()}

                def sub(match: re.Match) -> str:
                    name = match.group(1)
                    if name in extra:
                        return str(extra[name])
                    if "." in name:
                        logical, attribute = name.split(".", 1)
                        return self.physical[logical][attribute]
                    return self.ref(name)

                return SUBSTITUTION.sub(sub, text)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


_translations: dict[str, dict] = {}  # one transform per distinct document (~0.8 s each)


def check_transform(path: Path = TEMPLATE_PATH, doc: dict | None = None) -> dict:
    """Run the SAM transform offline; raise if the template does not transform.
    ``doc``: a parsed (and perhaps edited) template; paths are relative to ``path``."""
    from samtranslator.yaml_helper import yaml_parse

    return translate(yaml_parse(path.read_text()) if doc is None else doc, path.parent)


def translate(doc: dict, base: Path) -> dict:
    """The SAM transform of ``doc`` (local paths relative to ``base``), offline."""
    import os
    from unittest.mock import Mock

    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(doc)
    for logical_id, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                local = base / props[key]
                if not local.exists():
                    raise FileNotFoundError(f"{logical_id}.{key}: {local} does not exist")
                props[key] = f"s3://memberflow-package/{logical_id}/{props[key]}"
    loader = Mock()
    loader.load.return_value = {}
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(packaged, {}, loader)
