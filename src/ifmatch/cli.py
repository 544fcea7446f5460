"""The ``ifmatch`` command line.

Subcommands register themselves in ``COMMANDS``; each is a module with ``add_arguments(parser)``
and ``run(args) -> int`` that imports its optional dependencies only inside ``run``, so
``ifmatch --help`` stays fast and needs none. A command whose extra is not installed answers with
one line naming it (``pip install 'ifmatch[check]'``) and exit status 2, never a traceback.

Exit status of ``ifmatch explain``: 0 when the method would be performed, 1 when the request is
answered without performing it (304, 400, 412 or 428), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from ._extras import MissingExtra, needs
from ._version import __version__
from .core import (
    NotModified,
    Policy,
    Proceed,
    ResourceState,
    decision_problem,
    evaluate,
    format_http_date,
    parse_etag,
    parse_http_date,
)

__all__ = ["main"]

#: name -> (module path, one-line help, the extra it needs). Modules provide
#: add_arguments(parser) and run(args).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("ifmatch.check.command", "audit an HTTP API for lost-update safety", "check"),
    "demo": ("ifmatch.demo.command", "run the Guido & Ada demo", "demo"),
}

#: ``ifmatch explain``'s exit status: the method is performed, or the request is answered
#: without performing it (304, 400, 412, 428); 2 is for bad arguments.
EXIT_PROCEED = 0
EXIT_ANSWERED = 1
EXIT_USAGE = 2


def _add_explain(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show what ifmatch decides for a request against a resource's current state",
        description="Evaluate a request's preconditions exactly as a protected view would.",
    )
    parser.add_argument("method", help="request method, e.g. PUT")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    parser.add_argument("--etag", help="the current entity-tag, e.g. '\"v3\"'")
    parser.add_argument("--last-modified", help="the current Last-Modified, as an HTTP-date")
    parser.add_argument("--missing", action="store_true", help="the resource does not exist")
    parser.add_argument(
        "--no-require", action="store_true", help="do not require preconditions (no 428)"
    )
    parser.add_argument(
        "--accept-weak-echo", action="store_true", help="accept W/ echoes of version tags"
    )
    parser.set_defaults(handler=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
    headers: list[tuple[str, str]] = []
    for raw in args.header:
        name, sep, value = raw.partition(":")
        if not sep:
            print(f"ifmatch explain: header must be 'Name: value', got {raw!r}", file=sys.stderr)
            return EXIT_USAGE
        headers.append((name.strip(), value.strip()))
    last_modified: datetime | None = None
    if args.last_modified:
        last_modified = parse_http_date(args.last_modified)
        if last_modified is None:
            print("ifmatch explain: --last-modified is not an HTTP-date", file=sys.stderr)
            return EXIT_USAGE
    try:
        etag = parse_etag(args.etag) if args.etag else None
    except ValueError as error:
        print(f"ifmatch explain: --etag: {error}", file=sys.stderr)
        return EXIT_USAGE
    policy = Policy(
        require_precondition=frozenset() if args.no_require else Policy().require_precondition,
        accept_weak_echo=args.accept_weak_echo,
    )
    resource = ResourceState(etag=etag, last_modified=last_modified, exists=not args.missing)
    decision = evaluate(args.method, headers, resource, policy, now=datetime.now(UTC))
    if isinstance(decision, Proceed):
        print("proceed: perform the method")
        condition = decision.condition
        if not condition.is_unconditional:
            print(f"  the write must still hold: {_describe(condition)}")
        for warning in decision.warnings:
            print(f"  warning: {warning}")
        return EXIT_PROCEED
    if isinstance(decision, NotModified):
        print("304 Not Modified")
        for name, value in decision.headers:
            print(f"  {name}: {value}")
        return EXIT_ANSWERED
    print(f"{decision.status}")
    print(json.dumps(decision_problem(decision), indent=2, ensure_ascii=False))
    return EXIT_ANSWERED


def _describe(condition: object) -> str:
    parts = []
    for name in ("if_match", "if_none_match", "if_unmodified_since"):
        value = getattr(condition, name)
        if value is None:
            continue
        if isinstance(value, datetime):
            shown = format_http_date(value)
        elif isinstance(value, tuple):
            shown = ", ".join(str(tag) for tag in value) or "(no tag can match)"
        else:
            shown = str(value)
        parts.append(f"{name.replace('_', '-')}: {shown}")
    return "; ".join(parts)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for ``ifmatch``."""
    parser = argparse.ArgumentParser(
        prog="ifmatch", description="Conditional requests done right: no lost updates."
    )
    parser.add_argument("--version", action="version", version=f"ifmatch {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_explain(subparsers)
    for name, (module_path, help_text, extra) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        sub.set_defaults(command=name, extra=extra)
        module = importlib.import_module(module_path)  # imports no optional dependency
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ifmatch`` command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    extra: str | None = getattr(args, "extra", None)
    if extra is None:
        result: int = handler(args)
        return result
    try:
        with needs(extra):
            result = handler(args)
    except MissingExtra as missing:
        print(f"ifmatch {args.command}: {missing}", file=sys.stderr)
        return EXIT_USAGE
    return result
