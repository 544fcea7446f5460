"""Behind Apache httpd (Debian's apache2) as a reverse proxy with mod_deflate and mod_brotli:
a compressed response's strong tag comes back suffixed ("v1-gzip", "v1-br": DeflateAlterETag
and BrotliAlterETag AddSuffix, their defaults). With ACCEPT_WEAK_ECHO on, a write with the
tag the client received succeeds and so does revalidation; with it off, the 412 says the tag
was altered (code ``altered-etag``). The checker's ``compressed-etag`` probe names the proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import djangoproject
from ifmatch.check import Options, Status, check
from services import REQUIRE_SERVICES, free_port, port_open

djangoproject.setup()

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import call, gunicorn  # noqa: E402

pytestmark = pytest.mark.slow
APACHE = shutil.which("apache2") or (
    "/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None
)
MODULES = "/usr/lib/apache2/modules"

# A configuration of its own: no system service, no Debian apache2.conf (which wants the
# APACHE_RUN_* environment); one loopback port; logs in the temporary directory.
CONFIG = """
ServerRoot {tmp}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error.log
LogLevel warn
{user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule filter_module {modules}/mod_filter.so
LoadModule deflate_module {modules}/mod_deflate.so
LoadModule brotli_module {modules}/mod_brotli.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
ProxyPass / http://127.0.0.1:{upstream}/
ProxyPassReverse / http://127.0.0.1:{upstream}/
AddOutputFilterByType BROTLI_COMPRESS;DEFLATE application/json application/problem+json
"""


@contextlib.contextmanager
def apache(upstream: int) -> Iterator[int]:
    """Apache httpd in the foreground on a free loopback port, proxying to ``upstream``."""
    if APACHE is None or not os.path.exists(f"{MODULES}/mod_deflate.so"):
        message = "Apache httpd is not installed (apt-get install -y apache2)"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    port = free_port()
    # Run as root (CI), the children need a user to switch to.
    user = "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""
    with tempfile.TemporaryDirectory(prefix="ifmatch-apache-") as tmp:
        config = Path(tmp) / "httpd.conf"
        config.write_text(
            CONFIG.format(tmp=tmp, port=port, upstream=upstream, modules=MODULES, user=user)
        )
        with Path(tmp, "output.log").open("wb") as output:
            process = subprocess.Popen(
                [APACHE, "-f", str(config), "-DFOREGROUND"], stdout=output, stderr=output
            )
            try:
                _wait_for(process, port, Path(tmp))
                yield port
            finally:
                process.terminate()
                process.wait(timeout=10)


def _wait_for(process: subprocess.Popen[bytes], port: int, tmp: Path) -> None:
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port, timeout=0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            logs = [tmp / name for name in ("output.log", "error.log")]
            text = "".join(log.read_text() for log in logs if log.exists())
            pytest.fail(f"Apache httpd did not start: {text}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ifmatch-apache-db-") as tmp:
        path = f"{tmp}/db.sqlite3"
        djangoproject.add_database("apache", {"ENGINE": "django.db.backends.sqlite3", "NAME": path})
        yield f"sqlite://{path}"
        from django.db import connections

        connections["apache"].close()


def _document() -> int:
    doc = Document(title="deflate", text="compress me " * 60)
    doc.save(using="apache")
    return int(doc.pk)


@pytest.mark.parametrize("weak_echo", [True, False], ids=["accept-weak-echo", "strict"])
@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_suffixed_tags(sqlite_url: str, coding: str, weak_echo: bool) -> None:
    pk = _document()
    path = f"/api/documents/{pk}/"
    env = {"IFMATCH_ACCEPT_WEAK_ECHO": "1" if weak_echo else "0"}
    with gunicorn(sqlite_url, workers=1, **env) as upstream, apache(upstream) as port:
        status, headers, _ = call(port, "GET", path, {"Accept-Encoding": coding})
        assert status == 200 and headers.get("content-encoding") == coding
        echoed = headers["etag"]
        assert echoed == f'"v1-{coding}"', f"Apache did not suffix the tag: {echoed}"
        change = {"title": "d", "text": "changed"}
        status, headers, body = call(
            port, "PUT", path, {"If-Match": echoed, "Accept-Encoding": "identity"}, change
        )
        stored = Document.objects.using("apache").get(pk=pk)
        if weak_echo:
            assert status == 200, body
            assert (stored.version, stored.text) == (2, "changed")
            # Revalidating the compressed copy of version 2 it now holds: 304.
            _, headers, _ = call(port, "GET", path, {"Accept-Encoding": coding})
            assert headers["etag"] == f'"v2-{coding}"'
            revalidated, _, _ = call(
                port, "GET", path, {"If-None-Match": headers["etag"], "Accept-Encoding": coding}
            )
            assert revalidated == 304
        else:
            assert status == 412
            problem = json.loads(body)
            assert problem["code"] == "altered-etag"
            assert problem["current_etag"] == '"v1"'
            assert f"-{coding}" in problem["detail"] and "accept-weak-echo" in problem["detail"]
            assert stored.version == 1


def test_the_checker_names_the_proxy(sqlite_url: str) -> None:
    pk = _document()
    with (
        gunicorn(sqlite_url, workers=1) as upstream,
        apache(upstream) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        report = check(client, f"/api/documents/{pk}/", Options())
    (result,) = (result for result in report.results if result.id == "compressed-etag")
    assert result.status is Status.WARN
    assert '"v1-gzip"' in result.detail or '"v1-br"' in result.detail
    assert "DeflateAlterETag NoChange" in result.detail
