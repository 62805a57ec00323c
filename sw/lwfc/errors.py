"""Exceptions raised for bad input.

Every error a user can cause (a bad file, a bad argument) is an :class:`LwfcError` with a
one-line message that names the file or argument. The CLI prints it and exits with status 2;
API callers catch it like any exception.
"""


class LwfcError(Exception):
    """Base class of user-facing errors: the message is one line, meant to be shown as is."""


class DataError(LwfcError):
    """A dataset file is missing, corrupt or of the wrong shape."""


class BundleError(LwfcError):
    """A model bundle is missing files, corrupt, or inconsistent with its manifest."""
