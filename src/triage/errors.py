"""The one base class of expected errors: a bad input or a refused result that the user can act on.

A stage or command that meets one ends with its message on one line and a non-zero exit, never a traceback
(`triage.stages.__main__`, `triage.cli`); any other exception is a defect and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure whose message names the field or file and the rule, and says what to change."""


EXIT_USER_ERROR = 2
