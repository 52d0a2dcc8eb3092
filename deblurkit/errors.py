"""User-facing errors.

Every error that a user can cause (a missing file, a corrupt image, a bad option value) is raised
as :class:`DeblurkitError` with a one-line message; the CLI prints that line and exits with a
non-zero status instead of showing a traceback.
"""


class DeblurkitError(Exception):
    """An error caused by the user's input, reported as one line by the CLI.

    Args:
        message: one line, no trailing period needed, naming the offending file or value.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\n", " "))


class DeblurkitWarning(UserWarning):
    """A recoverable surprise in the user's input (e.g. an alpha channel that is dropped).

    The CLI prints these as one ``warning:`` line on stderr (hidden by ``--quiet``).
    """
