"""Exceptions that describe a problem with the user's input rather than a bug.

The ``efa`` command prints these as one-line messages without a traceback. Every message names
the offending file, field or option and says what was expected.
"""


class EfaError(Exception):
    """Base class of user-facing errors."""


class ConfigError(EfaError, ValueError):
    """A configuration value is invalid (names the key, the value and what is allowed)."""


class DataError(EfaError, ValueError):
    """A data set, raw file or download is invalid (names the source, the field and what was
    expected)."""
