"""``ifmatch demo``: serve Guido & Ada's shared documents on this machine.

    ifmatch demo [--host 127.0.0.1] [--port 8000] [--database-url URL] [--workers N]
                 [--data-dir DIR]

The first run creates a SQLite database with a sample document in a per-user data directory
(``--data-dir`` to choose another); ``--database-url postgresql://…`` runs on PostgreSQL instead.
The server is gunicorn with ``--workers`` processes. It prints the URLs to open and stops cleanly
on Ctrl-C. Also runnable as ``python -m ifmatch.demo``.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_arguments", "main", "run"]

# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. A last label
# of digits only is no host name (RFC 3696 §2): "999.0.0.1" is a mistyped address.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\.?$)(?:{_LABEL}\.)*(?!\d+\.?$){_LABEL}\.?")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535, got {value}")
    return value


def _host(text: str) -> str:
    """An IPv4 or IPv6 address (brackets allowed around IPv6) or a host name."""
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host == text and _HOST_NAME.fullmatch(host):
        return host
    raise argparse.ArgumentTypeError(f"not an IP address or host name: {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser``."""
    parser.description = "Run the Guido & Ada demo: two people edit one document, nobody loses."
    parser.add_argument(
        "--host", type=_host, default="127.0.0.1", help="address to bind (127.0.0.1)"
    )
    parser.add_argument("--port", type=_port, default=8000, help="TCP port, 1-65535 (8000)")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql://user:password@host:5432/name (default: SQLite in the data directory)",
    )
    parser.add_argument(
        "--workers", type=_positive, default=1, metavar="N", help="server processes (1)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the SQLite database and the secret key live (a per-user data directory)",
    )


def run(args: argparse.Namespace) -> int:
    """Prepare the database and serve the demo until Ctrl-C.

    Returns:
        0 after a clean shutdown, 1 when the demo could not start.
    """
    from .config import default_data_dir
    from .server import ServerError, banner, prepare, serve, write_line

    data_dir: Path = (args.data_dir or default_data_dir()).expanduser().resolve()
    say = write_line(sys.stdout)
    try:
        database = prepare(data_dir=data_dir, database_url=args.database_url, host=args.host)
        return serve(
            host=args.host,
            port=args.port,
            workers=args.workers,
            on_ready=lambda server: say(banner(args.host, args.port, database, server)),
        )
    except ServerError as error:
        print(f"ifmatch demo: {error}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ifmatch demo`` with ``argv`` (default: ``sys.argv[1:]``)."""
    from ..cli import main as ifmatch

    return ifmatch(["demo", *(sys.argv[1:] if argv is None else argv)])
