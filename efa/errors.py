"""Exceptions that describe a problem with the user's input rather than a bug.

The ``efa`` command prints these as one-line messages without a traceback. Every message names
the offending file, field or option and says what was expected.
"""


class EfaError(Exception):
    """Base class of user-facing errors."""


class ConfigError(EfaError, ValueError):
    """A configuration value is invalid (names the key, the value and what is allowed).

    Args:
      message: the one-line message.
      key: the configuration key it is about, as data (``splits.train``,
        ``model_options.features``), where the code that raised knows it; callers that know
        where the key came from (a workflow block, a command-line option) point at it by this,
        never by parsing the message.
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class DataError(EfaError, ValueError):
    """A data set, raw file or download is invalid (names the source, the field and what was
    expected)."""


class StorageError(EfaError, OSError):
    """A file or folder could not be read or written for a reason of the file system: a full
    disk or quota, a read-only or forbidden folder (names the path; what was there is kept)."""
