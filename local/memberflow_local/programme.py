"""The programme in the local stack's SSM, as a deployment keeps it (docs/publishing.md).

A stack whose template names a programme parameter (``ProgrammeConfigParameter``, empty
by default) gets that parameter at start-up holding its programme (the ``programme_file``
or the bundled default), published as the operator publishes one: validated, and in the
tier its size needs. The functions read it from there, with the roles template.yaml
gives them; ``memberflow programme publish`` publishes new versions to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memberflow_local.template import Template

if TYPE_CHECKING:
    from memberflow_local.template import Resolver

# What `memberflow serve` names its programme parameter (docs/deploy.md's example).
SERVE_PARAMETER = "/memberflow/programme"


def template_with_parameter(parameter: str = SERVE_PARAMETER) -> Template:
    """template.yaml deployed with ``ProgrammeConfigParameter=parameter``."""
    template = Template()
    template.parameters["ProgrammeConfigParameter"] = parameter
    return template


def create_parameter(ssm, resolver: Resolver, programme_file: str | None) -> None:
    """Publish the stack's programme (``programme_file``, or the bundled default) to its
    parameter with the ``ssm`` client, if the template names one (before the functions
    start: they read it at their first invocation)."""
    from pathlib import Path

    from memberflow.config.versions import publish

    parameter = resolver.ref("ProgrammeConfigParameter")
    if not parameter:
        return
    if programme_file:
        document = Path(programme_file).read_bytes()
    else:
        from memberflow.config.programme import default_document

        document = default_document()
    publish(ssm, parameter, document)
