"""What a person can fix: `UserError`, the base of every refusal of bad input (a file, a name, an option).

Input validation raises a UserError, or a module's own error class derived from it (DesignError,
ThresholdsError, WeightsNotFound, ...); the command line prints it as one line and exits 2. Anything
else is a bug of the harness and ends in a traceback. Imports nothing.
"""

from __future__ import annotations


class UserError(Exception):
    """An error of the input or the command line: one line on stderr, exit 2 (traceback with --debug)."""


class InputError(UserError, ValueError):
    """A value of the input that is refused (a setting, a name's form, a parameter out of range);
    still a ValueError for the callers that catch one."""


class UnknownName(UserError, KeyError):
    """A name the input gives that nothing is registered under (a model, a transform)."""

    def __str__(self) -> str:  # the message as written, not KeyError's repr of it
        return str(self.args[0]) if self.args else ""


class NotStored(UserError, LookupError):
    """A result the input asks for that is not stored (and a command says how to compute it)."""
