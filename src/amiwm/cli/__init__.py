"""`ami-cli`: parses flags, calls the Python API, formats output. No logic of its own."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable

from amiwm.errors import AmiError, ReportedError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as a one-line AmiError instead of usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AmiError(f"{self.prog}: {message} (see --help)")


def boolean_for(flag: str) -> Callable[[str], bool]:
    """The argparse type of a true/false flag; a bad value names `flag`."""

    def parse(value: str) -> bool:
        v = value.strip().lower()
        if v in ("true", "yes", "1", "on"):
            return True
        if v in ("false", "no", "0", "off"):
            return False
        raise AmiError(f"{flag} must be true or false, got {value!r}")

    return parse


boolean = boolean_for("--action-conditioning")


def names(value: str) -> list[str]:
    """A comma-separated list of names (columns)."""
    return [v.strip() for v in value.split(",") if v.strip()]


# one module of amiwm.cli per command, each with register(sub)
COMMANDS = (
    "collect",
    "data",
    "train",
    "eval",
    "plan",
    "demo",
    "monitor",
    "forecast",
    "probe",
    "serve",
    "memory",
    "learn",
)


def build_parser() -> Parser:
    import importlib

    p = Parser(prog="ami-cli", description="amiwm: JEPA world models that predict latents.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"amiwm.cli.{name}").register(sub)
    return p


def stdout_closed() -> int:
    """The reader of stdout went away (`ami-cli data inspect X | head`): stop quietly, 141 as
    for SIGPIPE, with stdout pointed at /dev/null so the exit-time flush cannot complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], int | None] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 2
        args.argv = list(sys.argv[1:] if argv is None else argv)
        status = func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
    except BrokenPipeError:
        return stdout_closed()
    except AmiError as exc:
        rank = int(os.environ.get("RANK", "0"))  # under torchrun
        if rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        elif not isinstance(exc, ReportedError):
            print(f"error: rank {rank}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted (a training run continues with --resume)", file=sys.stderr)
        if any(t.daemon and t.is_alive() for t in threading.enumerate()):
            # a daemon thread blocked reading a live stream (stdin) would abort the
            # interpreter's shutdown with a fatal error: leave now, everything is written
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
