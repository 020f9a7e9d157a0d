"""User-facing errors: one line, says what is wrong and what to do."""


class AmiError(Exception):
    """An error caused by user input; the CLI prints it on one line and exits non-zero."""


class ReportedError(AmiError):
    """An error every rank of a distributed run raises alike: rank 0 reports it, others stay
    quiet."""
