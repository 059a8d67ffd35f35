"""Command line: a thin layer over the library, one module per subcommand. Heavy imports
(boto3, pydantic) happen inside the commands so that ``--help`` stays fast."""

import argparse
import os
import signal
import sys
import traceback
from typing import NoReturn

from policycheck.cli import (
    archive,
    controls,
    demo,
    diff,
    drills,
    environments,
    history,
    iam_policy,
    init,
    merge,
    options,
    plan,
    render,
    run,
    schema,
    validate,
)
from policycheck.cli.options import DECIDED_EXIT_CODE
from policycheck.errors import (
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_USAGE,
    InputError,
    shown_problems,
)
from policycheck.version import __version__

#: 128 + the signal's number, as shells report a process a signal ended.
EXIT_SIGNAL_BASE = 128
#: In the order `policycheck --help` lists them.
SUBCOMMANDS = (
    init,
    run,
    plan,
    demo,
    validate,
    controls,
    merge,
    diff,
    iam_policy,
    environments,
    render,
    history,
    archive,
    drills,
    schema,
)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and where to read more, not the usage block
    (commands inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nsee `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="policycheck",
        description=(
            "Verify the backup and disaster-recovery policy (controls SC.10.*) against live "
            "AWS resources, read-only, and report control by control what holds."
        ),
        epilog=options.EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"policycheck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = options.parents()
    for command in SUBCOMMANDS:
        command.add(commands, parents)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (what CI runners and `timeout` send), handled like Ctrl-C: work
    stops, fetch processes are stopped, temporary files are removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    for name in ("SIGTERM", "SIGHUP"):  # first: a signal from now on ends in a message
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    args = argparse.Namespace(verbose=False)
    try:
        args = build_parser().parse_args(argv)
        code: int = args.execute(args)
        return code
    except InputError as exc:
        print(f"policycheck: error: {shown_problems(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        return _interrupted(getattr(exc, "signum", signal.SIGINT), args)
    except BrokenPipeError:  # `policycheck ... | head`: the reader has gone
        _silence_stdout()
        return EXIT_SIGNAL_BASE + signal.SIGPIPE
    except Exception as exc:
        return _internal_error(exc, args.verbose)


def _interrupted(signum: int, args: argparse.Namespace) -> int:
    """What a signal ended: before a new report set was published, no report (exit 128 +
    the signal); after, the set stands and the command exits as it had decided (see
    decided_exit_code), or 3 if it had not yet."""
    from policycheck.publish.staging import published

    name = signal.Signals(signum).name
    if not published:
        print(f"policycheck: interrupted ({name}); no new report written", file=sys.stderr)
        return EXIT_SIGNAL_BASE + signum
    where = ", ".join(str(directory) for directory in published)
    print(
        f"policycheck: interrupted ({name}) after the new report set was published in {where}",
        file=sys.stderr,
    )
    code: int = getattr(args, DECIDED_EXIT_CODE, EXIT_ERROR)
    return code


def _internal_error(exc: Exception, verbose: bool) -> int:
    """One line naming the error (the traceback with --verbose): exit 70, not 1."""
    if verbose:
        traceback.print_exc()
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    print(
        f"policycheck: internal error: {type(exc).__name__}"
        + (f": {detail}" if detail else "")
        + ("" if verbose else " (rerun with --verbose for the traceback)"),
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
