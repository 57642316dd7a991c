"""The one journey state machine every journey runs on (template.yaml JourneyStateMachine).

Its ARN comes from the functions' environment (``JOURNEY_STATE_MACHINE_ARN``, declared once
in the template's Globals), read when a journey is started, never at import. The journey
travels in the execution input; the cohort's pinned configuration decides the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from memberflow.runtime import SettingsError

VARIABLE = "JOURNEY_STATE_MACHINE_ARN"
_ARN = re.compile(r"^arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")


def journey_machine_arn(environ: Mapping[str, str] | None = None) -> str:
    """The journey state machine's ARN; a missing or malformed one names the variable."""
    arn = (os.environ if environ is None else environ).get(VARIABLE, "")
    if not arn:
        raise SettingsError(VARIABLE, "is required (the journey state machine's ARN)")
    if not _ARN.match(arn):
        raise SettingsError(VARIABLE, "must be a Step Functions state machine ARN")
    return arn
