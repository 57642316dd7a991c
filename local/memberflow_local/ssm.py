"""SSM Parameter Store's value limits on the local stack.

AWS refuses a PutParameter whose value is over its tier's size (Standard 4 KB,
Advanced 8 KB: ValidationException "Standard tier parameters support a maximum
parameter value of 4096 characters...") and one that would move an Advanced parameter
back to Standard. moto stores any value in any tier, so a programme that publishes
locally could be refused deployed. This seam (``SimpleSystemManagerBackend.put_parameter``)
refuses them with AWS's error code before moto stores anything. The value is measured
in UTF-8 bytes, never fewer than the characters AWS's message names: the local stack
may refuse a multi-byte value AWS would take, never the reverse.
(tests/integration/test_local_ssm.py: moto's own answer where it refuses, a refusal
where it does not.)
"""

from __future__ import annotations

LIMITS = {"Standard": 4096, "Advanced": 8192}
_state = {"enabled": True, "installed": False}


def refusal(value: str | None, tier: str | None, current_tier: str | None) -> str | None:
    """AWS's message for a PutParameter of ``value`` in ``tier`` (None: the parameter's
    tier, or Standard for a new one) over a parameter now in ``current_tier``."""
    if current_tier == "Advanced" and tier == "Standard":
        return (
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter "
            "from the advanced-parameter tier to the standard-parameter tier. If necessary, "
            "you can delete the advanced parameter and recreate it as a standard parameter."
        )
    effective = tier or current_tier or "Standard"
    if effective == "Intelligent-Tiering":
        effective = "Advanced"  # AWS picks the tier by size: at most the Advanced limit
    if value is None or effective not in LIMITS:
        return None
    size = len(value.encode("utf-8"))
    if effective == "Standard" and size > LIMITS["Standard"]:
        return (
            "Standard tier parameters support a maximum parameter value of 4096 characters. "
            "To create a larger parameter value, upgrade the parameter to use the "
            "advanced-parameter tier. For more information, see "
            "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
            "parameter-store-advanced-parameters.html"
        )
    if size > LIMITS["Advanced"]:
        return "Advanced tier parameters support a maximum parameter value of 8192 characters."
    return None


def install() -> None:
    """Wrap moto's PutParameter; idempotent."""
    if _state["installed"]:
        return
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend.put_parameter

    def put_parameter(self, name, description, value, *args, **kwargs):
        # seam: SimpleSystemManagerBackend.put_parameter
        if _state["enabled"]:
            # ParameterDict's own lookup (it normalises the name); none stored: []
            versions = self._parameters[name] if name in self._parameters else []
            current_tier = versions[-1].tier if versions else None
            message = refusal(value, kwargs.get("tier"), current_tier)
            if message is not None:
                raise ValidationException(message)
        return original(self, name, description, value, *args, **kwargs)

    SimpleSystemManagerBackend.put_parameter = put_parameter
    _state["installed"] = True
