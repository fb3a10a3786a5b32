"""User-facing errors: raised for a user's situation (bad input, missing data).

Command-line entry points catch :class:`RecutilsError` and print its message
without a traceback; everything else is a bug and keeps its traceback.
"""


class RecutilsError(Exception):
    """A problem the user can fix; its message says how."""


class DataError(RecutilsError):
    """A dataset file is missing, corrupt or cannot be fetched."""


class ChecksumError(DataError):
    """A file's SHA-256 does not match the registry."""

    def __init__(self, path, expected: str, actual: str):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}"
        )


class ConfigError(RecutilsError):
    """A setting (a model config field, a CLI option) is of the wrong type or out of range."""


class NotFoundError(RecutilsError, LookupError):
    """Something the user named (a user, a title, a movie) does not exist; the service answers 404."""
