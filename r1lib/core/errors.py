"""The one exception type for problems the user can fix (bad input, missing key, missing data)."""


class UserError(Exception):
    """A problem with the user's input or environment.

    The message must name the problem and the fix. The CLI prints it without a traceback and exits
    with status 2.
    """
