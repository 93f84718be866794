"""Pieces shared by the subcommands."""


class UsageError(ValueError):
    """A bad flag or flag combination, reported in one line (exit status 2)."""
