"""Errors that mean "the input is wrong", as opposed to "the code is wrong".

Apps (`apps.common.run_app`) print a `UserError` as one line and exit with
status 2, without a traceback; any other exception is a bug and keeps its
traceback. Messages name the flag or file, what was expected, and the fix.
"""


class UserError(ValueError):
    """A bad flag, file, folder or array supplied by the user.

    A `ValueError` subclass, so code (and tests) that catch `ValueError` from
    argument checks keep working.
    """


class DataError(UserError):
    """A data file or array is unreadable or holds values kerasda cannot use."""


class FlagError(UserError):
    """A flag value, or a combination of flags, that cannot work."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same save-and-stop paths run.

    `apps.common.run_app` turns SIGTERM into this exception (outside the
    training loop, whose runner installs its own handler) and exits with
    status 143, as a process killed by SIGTERM reports.
    """
