"""Real servers for the multi-process tests: gunicorn serving the test project, and a
lost-update harness that counts acknowledged writes missing at the end."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from services import PYTHON, free_port, running_server, subprocess_env


@contextlib.contextmanager
def gunicorn(db_url: str | None, *, workers: int = 4, **env: str) -> Iterator[int]:
    """Serve the test project with gunicorn on a free loopback port; yield the port."""
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "djangoproject.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
        "--timeout",
        "60",
        # As the demo does: let ifmatch judge long If-Match lists (400 with a problem body,
        # over 8190 characters) instead of gunicorn refusing the field by itself (431).
        "--limit-request-field_size",
        "16384",
    ]
    extra = {"DJANGO_SETTINGS_MODULE": "djangoproject.settings", **env}
    if db_url:
        extra["IFMATCH_DJANGO_DB_URL"] = db_url
    with running_server(argv, port, env=subprocess_env(**extra)):
        yield port


@dataclass
class Exchange:
    method: str
    path: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    response_body: bytes


def call(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    *,
    record: list[Exchange] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; returns status, headers (lower-case) and body."""
    payload = b"" if body is None else json.dumps(body).encode()
    sent = {"Host": f"127.0.0.1:{port}", "User-Agent": "ifmatch-tests", **(headers or {})}
    if body is not None:
        sent["Content-Type"] = "application/json"
        sent["Content-Length"] = str(len(payload))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders(payload or None)
        response = connection.getresponse()
        data = response.read()
        received = response.getheaders()
    finally:
        connection.close()
    if record is not None:
        record.append(
            Exchange(
                method,
                path,
                list(sent.items()),
                payload,
                response.status,
                response.reason,
                received,
                data,
            )
        )
    return response.status, {k.lower(): v for k, v in received}, data


@dataclass
class RaceResult:
    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    final_text: str = ""

    @property
    def lost(self) -> list[str]:
        return [token for token in self.acknowledged if token not in self.final_text]


def append_race(
    port: int,
    path: str,
    *,
    writers: int = 8,
    tokens_each: int = 5,
    seconds: float = 15.0,
    quote_etag: bool = True,
    record: list[Exchange] | None = None,
) -> RaceResult:
    """``writers`` threads each append ``tokens_each`` unique tokens to the document's text
    through GET → PUT If-Match → retry on 412. Bounded by ``seconds``."""
    result = RaceResult()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def writer(n: int) -> None:
        for i in range(tokens_each):
            token = f"<{n}.{i}>"
            while time.monotonic() < deadline:
                status, headers, body = call(port, "GET", path, record=record)
                if status != 200:
                    with lock:
                        result.errors.append(f"GET {status}")
                    return
                doc = json.loads(body)
                tag = headers["etag"]
                put_body = {"title": doc["title"], "text": doc["text"] + token}
                status, _, answer = call(
                    port, "PUT", path, {"If-Match": tag}, put_body, record=record
                )
                with lock:
                    if 200 <= status < 300:
                        result.acknowledged.append(token)
                        break
                    if status == 412:
                        result.refused += 1
                        continue
                    result.errors.append(f"PUT {status} {answer[:200]!r}")
                    return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _, _, body = call(port, "GET", path)
    result.final_text = json.loads(body)["text"]
    return result
