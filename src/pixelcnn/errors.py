"""User-facing errors: each carries one sentence naming the culprit and the fix.

Stages catch ``UserError`` at the top (``pixelcnn.project.stage.stage_main``), print
the sentence and exit 1; anything else is a bug and keeps its traceback.

The library names fields and arguments, never params.yaml: config dataclasses
check their own values with ``require``, and functions their arguments, raising
``InvalidValue`` naming the field: ``top_p must be in (0, 1], got 2``. Only the
params layer (``pixelcnn.project.params``: when it builds a config, and around the
library calls of a stage, ``Params.naming``) turns it into the key a user edits:
``params.yaml: prior.top_p must be in (0, 1], got 2``.
"""


class UserError(Exception):
    """Bad input a user can fix: the message is the whole report."""

    cli: str | None = None  # the same advice in the command line's words (flags), where it differs; pixelcnn.cli prints it


class ConfigError(UserError):
    """A params.yaml key is unknown, missing, of the wrong type or out of range."""


class DataError(UserError):
    """A dataset is missing, corrupt or of the wrong shape."""


class CheckpointError(UserError):
    """A checkpoint is missing, of the wrong kind, or does not match its partner."""


class TrainingError(UserError):
    """Training cannot go on (a non-finite loss); the sentence names the last good state."""


class OutputError(UserError):
    """An output cannot be written: the disk is full, or a value has no faithful form in its format."""


class InputError(UserError):
    """An argument of the Python API or the command line is out of range or of the wrong shape."""


class InvalidValue(InputError, ValueError):
    """A field or argument holds a value out of its range: ``str()`` is ``"<field> <problem>"``.

    ``problem`` reads after the name (``"must be > 0, got -1"``, or ``": <path> is not ..."``).
    A ``ValueError`` as well, for code that checks arguments the usual way.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(self.naming(field))

    def naming(self, name: str) -> str:
        """The sentence with ``name`` (a params key, say) in place of the field."""
        return f"{name}{'' if self.problem.startswith(':') else ' '}{self.problem}"


def require(condition: bool, field: str, problem: str) -> None:
    """Raise ``InvalidValue(field, problem)`` unless ``condition``; ``problem`` reads after the name."""
    if not condition:
        raise InvalidValue(field, problem)


class InputWarning(UserWarning):
    """Input the API accepted by changing it (a colour image converted for a grey model): one sentence saying how."""
