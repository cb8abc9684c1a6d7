"""`seedance`: the command line. Subcommands live in their own modules; this file dispatches.

Errors a user can cause print as one line (`seedance: error: FIELD: RULE`) with exit code 2;
Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys

from seedance import __version__
from seedance.cli import client, evaluate, generate, info, serve
from seedance.errors import SeedanceError

COMMANDS = {"generate": generate, "info": info, "eval": evaluate, "client": client, "serve": serve}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedance",
        description="Seedance: text/image-to-video generation (an open implementation of Seedance 1.0).",
    )
    parser.add_argument("--version", action="version", version=f"seedance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SeedanceError as e:
        print(f"seedance: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seedance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
