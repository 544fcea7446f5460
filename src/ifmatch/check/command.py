"""``ifmatch check URL``: the command line front of the checker.

Exit status: 0 safe, 1 unsafe, 2 could not check (bad arguments, unreachable URL, redirect,
401, 5xx, a body the write probes cannot use). httpx and rich are imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .context import Options, Progress
    from .model import Report

__all__ = ["add_arguments", "run"]

EXIT_UNKNOWN = 2


def _positive(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ifmatch check``."""
    parser.description = (
        "Audit one resource of an HTTP API for lost-update safety and RFC 9110 conditional "
        "requests. Read-only unless --write is given; write probes restore the original "
        "representation afterwards. Exit status: 0 safe, 1 unsafe, 2 could not check."
    )
    parser.add_argument("url", help="one existing resource, e.g. http://127.0.0.1:8000/docs/1")
    parser.add_argument(
        "--write",
        action="store_true",
        help="also run the write probes and the race probe (modifies the resource, then "
        "restores it): use a test resource",
    )
    parser.add_argument(
        "--body-field",
        default="text",
        metavar="NAME",
        help="the JSON member the write probes change (default: text)",
    )
    parser.add_argument(
        "--write-method",
        type=str.upper,
        choices=("PUT", "PATCH", "POST"),
        metavar="METHOD",
        help="the only method the write probes use: PUT, PATCH or POST (default: find one)",
    )
    parser.add_argument(
        "--content-type",
        metavar="TYPE",
        help="the only media type the write probes send, e.g. application/vnd.api+json "
        "(default: find one)",
    )
    parser.add_argument(
        "--body-template",
        metavar="FILE",
        help='a JSON file holding the body every write sends, with the string "{{value}}" '
        "where the probes put their value (default: the document GET returns)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive(2),
        default=8,
        metavar="N",
        help="writers released together in each race round (default: 8)",
    )
    parser.add_argument(
        "--rounds", type=_positive(1), default=20, metavar="R", help="race rounds (default: 20)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds to wait for each response (default: 10)",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header to send with every request, e.g. credentials or a header the API "
        "requires on writes (repeatable; never shown in the report)",
    )
    parser.add_argument(
        "--no-lint", action="store_true", help="do not lint responses with httplint"
    )


def _headers(raw: list[str]) -> list[tuple[str, str]]:
    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in ' \t()<>@,;\\"/[]?={}'):
            raise ValueError(f"--header must look like 'Name: value', got {item!r}")
        headers.append((name, value.strip()))
    return headers


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError as error:
        return f"{url!r} is not a valid URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL"
    return None


def _advice(error: str, url: str, timeout: float) -> str:
    """What to do when the first GET got no response at all (refused, timed out, no such host)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    text = error.lower()
    if "timeout" in text or "timed out" in text:
        return (
            f"No answer from {address} within {timeout:g} s: check that the server is up and "
            "answering, or allow more time with --timeout."
        )
    if "refused" in text:
        return (
            f"Nothing accepts connections on {address}: start the server first (the demo: "
            "ifmatch demo), or correct the host and port in the URL."
        )
    if "ssl" in text or "tls" in text or "certificate" in text:
        return (
            f"The TLS handshake with {address} failed: use http:// if the server does not speak "
            "HTTPS, or give it a certificate this machine trusts."
        )
    if "connecterror" in text:
        return f"{host} cannot be reached: check the host name and this machine's network."
    return (
        f"The connection to {address} closed without an answer: check that the URL names an "
        "HTTP server."
    )


def _with_advice(report: Report, url: str, timeout: float) -> Report:
    """The report, with what to do added when the check could not start for lack of a response."""
    if report.error is None or not report.error.startswith("No response"):
        return report
    advice = _advice(report.error, url, timeout)
    return dataclasses.replace(report, error=f"{report.error.rstrip('.')}. {advice}")


def _options(args: argparse.Namespace) -> Options:
    """The run's options.

    Raises:
        ValueError: they do not fit together, or the template cannot be used.
    """
    from .context import MEDIA_TYPE, Options
    from .documents import parse_template

    chosen = [
        name
        for name, value in (
            ("--write-method", args.write_method),
            ("--content-type", args.content_type),
            ("--body-template", args.body_template),
        )
        if value is not None
    ]
    if chosen and not args.write:
        raise ValueError(f"{', '.join(chosen)} only apply to the write probes: add --write")
    template = None
    if args.body_template is not None:
        try:
            with open(args.body_template, encoding="utf-8") as file:
                template = file.read()
            parse_template(template)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"--body-template {args.body_template}: {error}") from None
    if args.content_type is not None and not MEDIA_TYPE.fullmatch(args.content_type):
        raise ValueError(
            f"--content-type must be a media type such as application/json, got "
            f"{args.content_type!r}"
        )
    return Options(
        write=args.write,
        body_field=args.body_field,
        concurrency=args.concurrency,
        rounds=args.rounds,
        write_method=args.write_method,
        content_type=args.content_type,
        body_template=template,
    )


def _fail(message: str) -> int:
    print(f"ifmatch check: {message}", file=sys.stderr)
    return EXIT_UNKNOWN


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn
    from rich.progress import Progress as Bar

    with Bar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield update


def run(args: argparse.Namespace) -> int:
    """Run ``ifmatch check`` with parsed arguments; return the exit status."""
    problem = _url_problem(args.url)
    if problem is not None:
        return _fail(problem)
    try:
        headers = _headers(args.header)
    except ValueError as error:
        return _fail(str(error))

    import httpx
    from rich.console import Console

    from .._version import __version__
    from .drivers import check
    from .lint import httplint_linter
    from .report import render_json, render_rich

    try:
        options = _options(args)
    except ValueError as error:
        return _fail(str(error))
    limits = httpx.Limits(
        max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4
    )
    show_progress = not args.json and sys.stderr.isatty()
    try:
        with (
            httpx.Client(
                timeout=args.timeout,
                limits=limits,
                follow_redirects=False,
                headers={"User-Agent": f"ifmatch-check/{__version__}"},
            ) as client,
            _progress(show_progress) as progress,
        ):
            report = check(
                client,
                args.url,
                options,
                headers=headers,
                linter=None if args.no_lint else httplint_linter(args.url),
                progress=progress,
            )
    except KeyboardInterrupt:
        return _fail("interrupted; with --write the resource may not have been restored")
    report = _with_advice(report, args.url, args.timeout)
    if args.json:
        sys.stdout.write(render_json(report))
    else:
        render_rich(report, Console(highlight=False))
    return report.exit_code
