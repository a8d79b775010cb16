"""Exceptions with messages meant for people: each names the problem and how to fix it.

The CLI prints a ``BandgapsError`` as a single line (no traceback); anything else is a bug.
"""


class BandgapsError(Exception):
    """Base class of the errors this package raises on purpose."""


class SnapshotError(BandgapsError):
    """A pinned snapshot in the shared folder is missing, unreadable or has the wrong checksum."""


class InputError(BandgapsError, ValueError):
    """User input (a formula, a structure file, a name) that cannot be used."""


class MPQueryError(BandgapsError):
    """The Materials Project query failed (network, server, empty result)."""


class MPAuthError(MPQueryError):
    """No Materials Project API key, or the server rejected it."""


class OptionError(InputError):
    """An option's value outside what it may be (a range, a list of choices): the command line
    itself is wrong, so the CLI exits with status 2, as it does for a value it cannot parse."""
