"""What a command does with a user-facing error: :class:`CommandError` (printed as one line)
and the exit status ``USAGE_ERROR``.
"""

USAGE_ERROR = 2  # exit status for a bad configuration or option, as argparse uses


class CommandError(ValueError):
    """A user-facing error of a command: printed as one line, exit status 2."""
