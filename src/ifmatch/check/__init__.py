"""``ifmatch check``: audit an HTTP API for lost-update safety.

The probes (``probes``, ``writes``, ``race``) are sans-I/O generators; ``drivers`` sends their
requests with httpx, to a live server or to an in-process WSGI/ASGI app::

    import httpx
    from ifmatch.check import Options, check

    with httpx.Client(timeout=10) as client:
        report = check(client, "http://127.0.0.1:8000/documents/1", Options(write=True))
    print(report.verdict.label)

This package needs the ``check`` extra (httpx; rich for the table).
"""

from .context import Options
from .drivers import acheck, check
from .model import Evidence, ProbeResult, Report, Status, Verdict
from .report import render_json, render_text

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
