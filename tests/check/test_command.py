"""``ifmatch check``: snapshot of its output (text and JSON), exit codes and bad input."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from check.servers import make_wsgi_app, serve_wsgi
from check.snapshot import assert_matches_snapshot
from ifmatch.check import command
from services import free_port

RICH_ENVIRONMENT = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "LINES")


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RICH_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ifmatch check")
    command.add_arguments(parser)
    code = command.run(parser.parse_args(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def correct() -> Iterator[str]:
    with serve_wsgi(make_wsgi_app("correct")) as base:
        yield base + "/doc"


@pytest.fixture
def put_304() -> Iterator[str]:
    with serve_wsgi(make_wsgi_app("put-304")) as base:
        yield base + "/doc"


def test_text_report_of_a_safe_api(capsys: pytest.CaptureFixture[str], correct: str) -> None:
    code, out, err = cli(capsys, correct, "--write", "--rounds", "5")
    assert (code, err) == (0, "")
    assert_matches_snapshot("safe.txt", out)


def test_text_report_of_an_unsafe_api(capsys: pytest.CaptureFixture[str], put_304: str) -> None:
    code, out, _ = cli(capsys, put_304, "--write", "--rounds", "5")
    assert code == 1
    assert_matches_snapshot("unsafe.txt", out)


def test_json_report_of_an_unsafe_api(capsys: pytest.CaptureFixture[str], put_304: str) -> None:
    code, out, _ = cli(capsys, put_304, "--write", "--rounds", "5", "--json")
    assert code == 1 and json.loads(out)["verdict"] == "unsafe"
    assert_matches_snapshot("unsafe.json", out)


def test_read_only_report(capsys: pytest.CaptureFixture[str], correct: str) -> None:
    code, out, _ = cli(capsys, correct)
    assert code == 0
    assert_matches_snapshot("read-only.txt", out)


def test_no_lint_drops_httplint(capsys: pytest.CaptureFixture[str]) -> None:
    def no_date(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # wsgiref adds Date itself; a Last-Modified in the future is rated "bad" by httplint.
        start_response("200 OK", [("ETag", '"v1"'), ("Last-Modified", FUTURE)])
        return [b"{}"]

    with serve_wsgi(no_date) as base:
        _, linted, _ = cli(capsys, base, "--json")
        _, plain, _ = cli(capsys, base, "--json", "--no-lint")
    assert "httplint" in linted and "httplint" not in plain


FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["not a url"], "is not an http:// or https:// URL"),
        (["ftp://127.0.0.1/doc"], "is not an http:// or https:// URL"),
        (["http://127.0.0.1:port/doc"], "is not a valid URL"),
        (["http://127.0.0.1/doc", "--header", "NoColon"], "--header must look like"),
        (["http://127.0.0.1/doc", "-H", "Bad Name: x"], "--header must look like"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("ifmatch check: ") and message in err


@pytest.mark.parametrize(
    "argv", [["--concurrency", "1"], ["--rounds", "0"], ["--timeout", "-1"], ["--rounds", "x"]]
)
def test_bad_numbers_are_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(capsys, "http://127.0.0.1/doc", *argv)
    assert exited.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_unreachable_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, f"http://127.0.0.1:{free_port()}/doc", "--timeout", "2")
    assert code == 2
    assert "COULD NOT CHECK: No response to GET: ConnectError" in out


def test_unreachable_url_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, f"http://127.0.0.1:{free_port()}/doc", "--json")
    data = json.loads(out)
    assert (code, data["verdict"], data["exit_code"], data["probes"]) == (
        2,
        "could not check",
        2,
        [],
    )
    assert data["error"].startswith("No response to GET")


def answering(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, headers)
        return [body]

    return app


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            answering("301 Moved Permanently", [("Location", "/doc/")]),
            "GET answered 301 Moved Permanently, a redirect to /doc/",
        ),
        (answering("401 Unauthorized", []), "--header 'Authorization: ...'"),
        (answering("500 Internal Server Error", []), "the server failed"),
    ],
    ids=["redirect", "auth", "5xx"],
)
def test_resources_that_cannot_be_checked(
    capsys: pytest.CaptureFixture[str], app: Any, message: str
) -> None:
    with serve_wsgi(app) as base:
        code, out, _ = cli(capsys, base + "/doc")
    assert code == 2 and message in out


def test_a_non_json_body_cannot_be_written(capsys: pytest.CaptureFixture[str]) -> None:
    html = answering("200 OK", [("ETag", '"h1"'), ("Content-Type", "text/html")], b"<p>hi</p>")
    with serve_wsgi(html) as base:
        read_code, _, _ = cli(capsys, base + "/page")
        code, out, _ = cli(capsys, base + "/page", "--write")
    assert read_code == 0
    assert code == 2 and "not a JSON object" in out and "COULD NOT CHECK" in out


def test_headers_reach_a_server_that_needs_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_wsgi_app("correct")

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != "Bearer s3cret":
            start_response("401 Unauthorized", [])
            return [b""]
        return app(environ, start_response)

    with serve_wsgi(guarded) as base:
        code, out, _ = cli(capsys, base + "/doc", "-H", "Authorization: Bearer s3cret", "--write")
    assert code == 0 and "s3cret" not in out


def test_the_progress_display_runs_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with command._progress(True) as progress:
        assert progress is not None
        progress("HEAD agrees with GET", 3, 17)
    with command._progress(False) as nothing:
        assert nothing is None


# --- writes the API accepts --------------------------------------------------------------


def serve_dialect(name: str, **extra: Any) -> Any:
    return serve_wsgi(make_wsgi_app("correct", dialect=name, **extra))


def test_when_every_way_is_refused_the_run_could_not_check_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve_dialect("strict-no-openapi") as base:
        before = httpx.get(base + "/doc")
        code, out, err = cli(capsys, base + "/doc", "--write", "--rounds", "2")
        json_code, json_out, _ = cli(capsys, base + "/doc", "--write", "--json")
        after = httpx.get(base + "/doc")
    assert (code, err, json_code) == (2, "", 2)
    verdict = " ".join(out[out.index("COULD NOT CHECK") :].split())
    assert verdict.startswith("COULD NOT CHECK: No write was accepted: a PUT of the JSON object")
    assert verdict.endswith("--content-type or --header.")
    report = json.loads(json_out)
    assert report["verdict"] == "could not check" and report["error"].startswith("No write")
    assert after.content == before.content
    assert after.headers["ETag"] == before.headers["ETag"] == '"v1"'


def test_a_body_template_file_makes_the_strict_schema_checkable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = tmp_path / "body.json"
    template.write_text('{"text": "{{value}}"}', encoding="utf-8")
    with serve_dialect("strict-no-openapi") as base:
        before = httpx.get(base + "/doc").content
        code, out, _ = cli(
            capsys, base + "/doc", "--write", "--json", "--body-template", str(template)
        )
        after = httpx.get(base + "/doc").content
    report = json.loads(out)
    assert code == 0, out
    assert report["options"]["body_template"] is True
    write = next(probe for probe in report["probes"] if probe["id"] == "write")
    assert write["data"]["way"]["body"] == "template"
    assert after == before


def test_the_write_method_and_media_type_options(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_dialect("patch-only") as base:
        code, out, _ = cli(
            capsys,
            base + "/doc",
            "--write",
            "--json",
            "--write-method",
            "patch",
            "--content-type",
            "application/merge-patch+json",
        )
        refused, refused_out, _ = cli(
            capsys, base + "/doc", "--write", "--json", "--write-method", "PUT"
        )
    report = json.loads(out)
    assert code == 0 and report["options"]["write_method"] == "PATCH"
    assert json.loads(refused_out)["error"] == (
        "No write was accepted: a PUT of the JSON object as application/json got 405; describe "
        "the write the API expects with --body-template, --write-method, --content-type or "
        "--header."
    )
    assert refused == 2


def test_a_required_header_is_given_with_header(capsys: pytest.CaptureFixture[str]) -> None:
    required = ("X-Requested-With", "XMLHttpRequest")
    with serve_dialect("plain", required=required) as base:
        without, _, _ = cli(capsys, base + "/doc", "--write", "--rounds", "2")
        code, _, _ = cli(
            capsys,
            base + "/doc",
            "--write",
            "--rounds",
            "2",
            "-H",
            "X-Requested-With: XMLHttpRequest",
        )
    assert (without, code) == (2, 0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--body-template", "{missing}"], "No such file"),
        (["--body-template", "{bad}"], "is not JSON"),
        (["--body-template", "{plain}"], 'no "{{value}}" string'),
        (["--content-type", "json"], "--content-type must be a media type"),
    ],
)
def test_bad_write_options_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "bad").write_text("{", encoding="utf-8")
    (tmp_path / "plain").write_text('{"text": "x"}', encoding="utf-8")
    argv = [
        arg.format(missing=tmp_path / "nope", bad=tmp_path / "bad", plain=tmp_path / "plain")
        for arg in argv
    ]
    code, out, err = cli(capsys, "http://127.0.0.1/doc", "--write", *argv)
    assert (code, out) == (2, "")
    assert err.startswith("ifmatch check: ") and message in err


def test_write_options_need_write(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "http://127.0.0.1/doc", "--write-method", "PATCH")
    assert code == 2 and "--write-method only apply to the write probes: add --write" in err


def test_an_unknown_write_method_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(capsys, "http://127.0.0.1/doc", "--write", "--write-method", "DELETE")
    assert exited.value.code == 2
