"""User-facing errors: each carries one sentence naming the culprit and the fix.

Stages catch ``UserError`` at the top (``pixelcnn.runtime.stage_main``), print
the sentence and exit 1; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input a user can fix: the message is the whole report."""


class ConfigError(UserError):
    """A params.yaml key is unknown, of the wrong type or out of range."""


class DataError(UserError):
    """A dataset is missing, corrupt or of the wrong shape."""


class CheckpointError(UserError):
    """A checkpoint is missing, of the wrong kind, or does not match its partner."""


class InputError(UserError):
    """An argument of the Python API or the command line is out of range or of the wrong shape."""
