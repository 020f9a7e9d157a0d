"""User-facing errors: one line, says what is wrong and what to do."""


class AmiError(Exception):
    """An error caused by user input; the CLI prints it on one line and exits non-zero."""
