"""The one exception type for errors a person can cause and fix."""

from __future__ import annotations


class TravelbotError(Exception):
    """A problem the user can fix; the message is one sentence that says what to do."""

    exit_code = 1


class UnknownVariantError(TravelbotError):
    """A variant name that the registry does not know."""

    exit_code = 2


class InvalidInputError(TravelbotError):
    """A message or setting that cannot be used as given."""

    exit_code = 2
