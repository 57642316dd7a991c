"""The one journey state machine every journey runs on (template.yaml JourneyStateMachine).

Its ARN comes from the functions' environment (``JOURNEY_STATE_MACHINE_ARN``, declared
once in the template's Globals), validated with the other settings at start-up
(``runtime.Settings``). The journey travels in the execution input; the cohort's pinned
configuration decides the rest.
"""

from __future__ import annotations

from memberflow.runtime import JOURNEY_MACHINE_VARIABLE, Settings, SettingsError


def journey_machine_arn(settings: Settings) -> str:
    """The journey state machine's ARN (validated with the settings at start-up); a
    function started without one names the variable."""
    if not settings.journey_machine_arn:
        raise SettingsError(
            JOURNEY_MACHINE_VARIABLE, "is required (the journey state machine's ARN)"
        )
    return settings.journey_machine_arn
