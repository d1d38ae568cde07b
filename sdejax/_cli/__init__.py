"""The ``sdejax`` command line: ``demo``, ``sweep``, ``info``, ``plot``, ``example-config``.

A bad configuration, a bad option value or an unusable results file prints one line to stderr
(the file, the key, the value and what is allowed) and exits with status 2; ``--debug`` shows the
traceback instead. This module imports JAX only inside the commands that compute, so
``--help``, ``--version``, ``example-config``, ``info`` and ``plot`` start fast (the last two
read the file and never compile anything).

The commands live in ``_demo``, ``_sweep_command`` (``sweep``, ``example-config``) and
``_read_commands`` (``info``, ``plot``); ``_parser`` builds the argparse parser that binds them.
"""

from __future__ import annotations

import sys

from ._errors import USAGE_ERROR, CommandError as CommandError
from ._parser import parser


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, ValueError, TypeError) as error:
        if args.debug:
            raise
        message = " ".join(str(error).split())  # one line, whatever the library wrote
        message = message.removeprefix(f"sdejax {args.command}: ")
        print(f"sdejax {args.command}: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"sdejax {args.command}: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`sdejax info map.nc | head`): no traceback, and none at exit
        # when Python flushes stdout (the recipe of the Python docs, "Note on SIGPIPE").
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
