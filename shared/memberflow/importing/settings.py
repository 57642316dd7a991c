"""The member import's deployment settings, read and validated on each invocation (two
variables: cheaper than a cache a new local stack would have to reset)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from memberflow.runtime import SettingsError


@dataclass(frozen=True)
class ImportSettings:
    bucket: str
    machine_arn: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ImportSettings:
        bucket = environ.get("IMPORT_BUCKET", "")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise SettingsError("IMPORT_BUCKET", "is required (the import bucket's name)")
        arn = environ.get("MEMBER_IMPORT_MACHINE_ARN", "")
        if not re.fullmatch(r"arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[\w-]+", arn):
            raise SettingsError(
                "MEMBER_IMPORT_MACHINE_ARN", "is required (the member import state machine's ARN)"
            )
        return cls(bucket=bucket, machine_arn=arn)


def import_settings() -> ImportSettings:
    return ImportSettings.from_environ(os.environ)
