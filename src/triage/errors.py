"""The one base class of expected errors, and the one table of exit codes every command and stage uses.

A stage or command that meets a `UserError` ends with its message on one line and exit code 2, never a traceback
(`triage.stages.__main__`, `triage.cli`); any other exception is a defect and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class UserError(Exception):
    """An expected failure whose message names the field or file and the rule, and says what to change."""


class ExitCode(IntEnum):
    """What a `triage` command's exit status means (listed in `triage --help`)."""

    OK = 0
    FAILED_CHECK = 1  # a check ran and said no: a quality gate, a promotion check, a server `status` not running
    BAD_INPUT = 2  # the command could not do its work: bad or missing input, a refused start (one line on stderr)
    DRIFT = 3  # `triage monitor`: drift detected


def exit_codes_help() -> str:
    return "exit codes: " + ", ".join(f"{code.value} {code.name.lower().replace('_', ' ')}" for code in ExitCode)
