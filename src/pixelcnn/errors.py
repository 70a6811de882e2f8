"""User-facing errors: each carries one sentence naming the culprit and the fix.

Stages catch ``UserError`` at the top (``pixelcnn.runtime.stage_main``), print
the sentence and exit 1; anything else is a bug and keeps its traceback.

Library configs (frozen dataclasses) check their own values with ``require``,
which raises ``InvalidValue`` naming the field: ``top_p must be in (0, 1], got 2``.
The params layer turns it into the key a user edits:
``params.yaml: prior.top_p must be in (0, 1], got 2``.
"""


class UserError(Exception):
    """Bad input a user can fix: the message is the whole report."""


class ConfigError(UserError):
    """A params.yaml key is unknown, missing, of the wrong type or out of range."""


class DataError(UserError):
    """A dataset is missing, corrupt or of the wrong shape."""


class CheckpointError(UserError):
    """A checkpoint is missing, of the wrong kind, or does not match its partner."""


class TrainingError(UserError):
    """Training cannot go on (a non-finite loss); the sentence names the last good state."""


class InvalidValue(ValueError):
    """A config field holds a value out of its range: ``str()`` is ``"<field> <what is wrong>"``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def require(condition: bool, field: str, problem: str) -> None:
    """Raise ``InvalidValue(field, problem)`` unless ``condition``; ``problem`` reads after the name."""
    if not condition:
        raise InvalidValue(field, problem)


class OutputError(UserError):
    """An output cannot be written: the disk is full, or a value has no faithful form in its format."""


class InputError(UserError):
    """An argument of the Python API or the command line is out of range or of the wrong shape."""
