"""``ifmatch check``: audit an HTTP API for lost-update safety.

The probes (``probes``, ``writes``, ``race``) are sans-I/O generators; ``drivers`` sends their
requests with httpx, to a live server or to an in-process WSGI/ASGI app::

    import httpx
    from ifmatch.check import Options, check

    with httpx.Client(timeout=10) as client:
        report = check(client, "http://127.0.0.1:8000/documents/1", Options(write=True))
    print(report.verdict.label)

``check`` and ``acheck`` need the ``check`` extra (httpx); they are imported on first use, so
importing this package (or ``ifmatch.check.command``, for ``ifmatch --help``) loads no HTTP
library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import Options
from .model import Evidence, ProbeResult, Report, Status, Verdict
from .report import render_json, render_text

if TYPE_CHECKING:
    from .drivers import acheck, check

__all__ = [
    "Evidence",
    "Options",
    "ProbeResult",
    "Report",
    "Status",
    "Verdict",
    "acheck",
    "check",
    "render_json",
    "render_text",
]


def __getattr__(name: str) -> Any:
    if name in ("check", "acheck"):
        from . import drivers

        return getattr(drivers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
