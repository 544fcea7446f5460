"""Behind a compressing proxy (nginx with gzip on) and behind Django's GZipMiddleware, strong
tags arrive weakened. With ACCEPT_WEAK_ECHO on, conditional writes with the echoed tag succeed;
with it off, the 412 body says the tag arrived weak."""

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

import pytest

import djangoproject
from services import REQUIRE_SERVICES, free_port, port_open

djangoproject.setup()

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import call, gunicorn  # noqa: E402

pytestmark = pytest.mark.slow
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

CONFIG = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    gzip on;
    gzip_min_length 0;
    gzip_proxied any;
    gzip_types application/json application/problem+json;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_http_version 1.1;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(upstream: int) -> Iterator[int]:
    if NGINX is None:
        message = "nginx is not installed (apt-get install -y nginx)"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ifmatch-nginx-") as tmp:
        config = Path(tmp) / "nginx.conf"
        config.write_text(CONFIG.format(tmp=tmp, port=port, upstream=upstream))
        process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", tmp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while not port_open("127.0.0.1", port, timeout=0.1):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = Path(tmp, "error.log")
                    pytest.fail(f"nginx did not start: {log.read_text() if log.exists() else ''}")
                time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)
            if process.stdout:
                process.stdout.close()


@pytest.fixture(scope="module")
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ifmatch-proxy-db-") as tmp:
        path = f"{tmp}/db.sqlite3"
        djangoproject.add_database("proxy", {"ENGINE": "django.db.backends.sqlite3", "NAME": path})
        yield f"sqlite://{path}"
        from django.db import connections

        connections["proxy"].close()


def _document() -> int:
    doc = Document(title="gzip", text="compress me " * 60)
    doc.save(using="proxy")
    return int(doc.pk)


def _write_with_echoed_tag(port: int, pk: int) -> tuple[int, str, dict[str, object]]:
    path = f"/api/documents/{pk}/"
    status, headers, _ = call(port, "GET", path, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    echoed = headers["etag"]
    status, _, body = call(
        port,
        "PUT",
        path,
        {"If-Match": echoed, "Accept-Encoding": "identity"},
        {"title": "g", "text": "changed"},
    )
    return status, echoed, json.loads(body) if body else {}


@pytest.mark.parametrize("weak_echo", [True, False], ids=["accept-weak-echo", "strict"])
@pytest.mark.parametrize("compressor", ["nginx", "GZipMiddleware"])
def test_weakened_tags(sqlite_url: str, compressor: str, weak_echo: bool) -> None:
    env = {"IFMATCH_ACCEPT_WEAK_ECHO": "1" if weak_echo else "0"}
    if compressor == "GZipMiddleware":
        env["IFMATCH_GZIP"] = "1"
    pk = _document()
    with gunicorn(sqlite_url, workers=1, **env) as upstream:
        front = nginx(upstream) if compressor == "nginx" else contextlib.nullcontext(upstream)
        with front as port:
            status, echoed, body = _write_with_echoed_tag(port, pk)
    assert echoed.startswith('W/"v'), f"{compressor} did not weaken the tag: {echoed}"
    if weak_echo:
        assert status == 200, body
        assert Document.objects.using("proxy").get(pk=pk).text == "changed"
    else:
        assert status == 412
        assert body["code"] == "weak-etag"
        assert "weak" in str(body["detail"]) and "accept-weak-echo" in str(body["detail"])
        assert Document.objects.using("proxy").get(pk=pk).version == 1
