"""Every quick start in the docs runs as written.

Each block is found by its marker (``<!-- quickstart: NAME -->`` before the fenced block), or,
on pages whose quick start carries no marker yet, as the first ``python`` block under its
``## Quick start`` (or named) heading. The block is written to a file untouched; the only code
added around it (the *scaffolding*, marked as such below) is what a reader adds to try it: a
database to point it at, the tables, one row, a server to run it in, and the requests.
"""

import os
import re
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import (
    POSTGRES_URL,
    PYTHON,
    Database,
    free_port,
    running_server,
    scratch_database,
    subprocess_env,
)

ROOT = Path(__file__).resolve().parents[1]
MARKED = re.compile(
    r"<!-- quickstart: (?P<name>[\w./-]+)[^>]*-->\n```python\n(?P<code>.*?)\n```", re.S
)


def marked(page: str) -> dict[str, str]:
    """The marked quick-start blocks of a docs page, by name."""
    text = (ROOT / page).read_text()
    return {m["name"]: m["code"] + "\n" for m in MARKED.finditer(text)}


def under_heading(page: str, heading: str) -> str:
    """The first ``python`` block under ``heading`` on a page."""
    text = (ROOT / page).read_text()
    start = text.index(f"\n{heading}\n")
    match = re.compile(r"```python\n(.*?)\n```", re.S).search(text, start)
    assert match is not None, (page, heading)
    return match[1] + "\n"


def test_each_page_marks_its_quick_starts() -> None:
    assert set(marked("docs/flask.md")) >= {"flask"}
    assert set(marked("docs/fastapi.md")) >= {"fastapi"}
    assert set(marked("docs/django.md")) >= {
        "django/models.py",
        "django/views.py",
        "django/urls.py",
    }
    assert set(marked("docs/drf.md")) >= {
        "drf/models.py",
        "drf/serializers.py",
        "drf/views.py",
        "drf/urls.py",
    }


@pytest.fixture
def portal() -> Iterator[Any]:
    """One event loop in a background thread, for driving an ASGI app from these tests."""
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        yield portal


@pytest.fixture(scope="module")
def pg() -> Iterator[Database]:
    with scratch_database(POSTGRES_URL, "PostgreSQL") as db:
        yield db


# --- README: the core in one minute ----------------------------------------------------------


def test_readme_core_in_one_minute() -> None:
    namespace: dict[str, Any] = {}
    exec(under_heading("README.md", "## The core in one minute"), namespace)
    # scaffolding: the values the block's comments show
    assert str(namespace["current"].etag) == '"v7"'
    assert namespace["decision"].status == 412
    problem = namespace["decision_problem"](namespace["decision"])
    assert problem["current_etag"] == '"v7"'


# --- docs/stores.md ------------------------------------------------------------------------------


def test_stores_quick_start(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {}
    exec(under_heading("docs/stores.md", "## Quick start"), namespace)
    # scaffolding: a database, the table and one row
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from ifmatch.core import version_etag

    engine = create_engine(f"sqlite:///{tmp_path / 'stores.db'}")
    namespace["Base"].metadata.create_all(engine)
    document = namespace["Document"]
    put = namespace["put_document"]
    with Session(engine) as session:
        session.add(document(id=1, text="a"))
        session.commit()
        assert put(session, 1, {}, "b") == 428
        assert put(session, 1, {"If-Match": '"v1"'}, "b") == (200, version_etag(2))
        assert put(session, 1, {"If-Match": '"v1"'}, "c") == 412
        assert put(session, 2, {"If-Match": '"v1"'}, "c") == 404
    engine.dispose()


# --- docs/client.md ------------------------------------------------------------------------


def test_client_quick_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import ifmatch.client
    from client.fake_api import FakeAPI

    # scaffolding: an in-process API at the block's base URL, with /docs/7
    api = FakeAPI()
    api.put_doc("7", {"title": "Draft", "views": 0})
    original = ifmatch.client.Client

    class LocalClient(original):  # type: ignore[misc, valid-type]
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=httpx.MockTransport(api), **kwargs)

    monkeypatch.setattr(ifmatch.client, "Client", LocalClient)
    exec(under_heading("docs/client.md", "## Quick start"), {})
    assert api.body("7")["title"] == "Ready" and api.body("7")["views"] == 1
    assert api.body("8") == {"title": "New"}


# --- docs/flask.md: under gunicorn, 16 concurrent writers ------------------------------------


@dataclass
class Answers:
    """Every 2xx a writer got: what it sent and what came back."""

    puts: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # if-match, sent, etag, body
    reads: list[tuple[str, str]] = field(default_factory=list)  # etag, body
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def write_concurrently(base: str, path: str, *, writers: int, tokens: int) -> Answers:
    """``writers`` threads each append ``tokens`` words: GET, PUT with If-Match, retry on 412."""
    answers = Answers()
    deadline = time.monotonic() + 120

    def writer(name: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for index in range(tokens):
                while time.monotonic() < deadline:
                    read = client.get(path)
                    etag, text = read.headers["ETag"], read.json()["text"]
                    with answers.lock:
                        answers.reads.append((etag, text))
                    sent = f"{text} {name}-{index}".strip()
                    put = client.put(path, json={"text": sent}, headers={"If-Match": etag})
                    if put.status_code == 200:
                        with answers.lock:
                            answers.puts.append(
                                (etag, sent, put.headers["ETag"], put.json()["text"])
                            )
                        break
                    if put.status_code != 412:
                        with answers.lock:
                            answers.errors.append(f"{put.status_code} {put.text[:200]}")
                        return

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def check_bodies_match_tags(answers: Answers, known: dict[str, str]) -> None:
    """Every 2xx's body is the text of the version its ETag names.

    The text of each version is known from the write that made it: a PUT with
    ``If-Match: "vN"`` that won made version N+1 with the text it sent."""
    assert not answers.errors, answers.errors[:3]
    text_of = dict(known)
    for if_match, sent, _, _ in answers.puts:
        version = int(if_match.strip('"v')) + 1
        text_of[f'"v{version}"'] = sent
    mismatched = [
        (etag, body[-40:], text_of.get(etag, "?")[-40:])
        for etag, body in [*answers.reads, *((p[2], p[3]) for p in answers.puts)]
        if text_of.get(etag) != body
    ]
    assert mismatched == [], f"{len(mismatched)} answers whose body is another version's"


def flask_app_file(tmp_path: Path, code: str, name: str) -> Path:
    (tmp_path / f"{name}.py").write_text(code)
    return tmp_path


def serve_flask(tmp_path: Path, module: str, url: str) -> tuple[list[str], int, dict[str, str]]:
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "--workers", "4", "--bind", f"127.0.0.1:{port}"]
    env = subprocess_env(DATABASE_URL=url)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    return [*argv, f"{module}:app"], port, env


def seed_flask(tmp_path: Path, module: str, env: dict[str, str]) -> None:
    # scaffolding: import the app once (its create_all makes the table before the workers
    # start) and add document 1, text "", at version 1.
    script = textwrap.dedent(
        f"""
        from {module} import app, db, Document
        with app.app_context():
            db.drop_all()
            db.create_all()
            db.session.add(Document(id=1, text=""))
            db.session.commit()
        """
    )
    import subprocess

    subprocess.run([PYTHON, "-c", script], env=env, cwd=tmp_path, check=True)


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("pattern", ["as written", "body read after commit"])
def test_flask_quick_start_bodies_and_tags_agree(
    tmp_path: Path, pg: Database, pattern: str
) -> None:
    code = marked("docs/flask.md")["flask"]
    if pattern != "as written":
        code = after_commit_variant(code)
    module = "flask_quickstart" if pattern == "as written" else "flask_after_commit"
    flask_app_file(tmp_path, code, module)
    url = pg.sqlalchemy_url()
    argv, port, env = serve_flask(tmp_path, module, url)
    seed_flask(tmp_path, module, env)
    base = f"http://127.0.0.1:{port}"
    with running_server(argv, port, env=env, cwd=tmp_path):
        check_head_and_304(base, "/documents/1")
        answers = write_concurrently(base, "/documents/1", writers=16, tokens=8)
    assert len(answers.puts) == 16 * 8
    # v1 was seeded, v2 written by the checks above, both with the text ""
    check_bodies_match_tags(answers, {'"v1"': "", '"v2"': ""})


def check_head_and_304(base: str, path: str, headers: dict[str, str] | None = None) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        check_reads_and_writes(client.request, path, headers or {})


def check_reads_and_writes(
    request: Callable[..., httpx.Response], path: str, sent: dict[str, str]
) -> None:
    """The documented pattern answers HEAD like GET: 200 with the validators and no body, and
    304 to the current tag; a write needs a precondition (428) and a current one (412)."""
    got = request("GET", path, headers=sent)
    assert got.status_code == 200, got.text
    etag = got.headers["ETag"]
    head = request("HEAD", path, headers=sent)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == etag and "Last-Modified" in head.headers
    for method in ("GET", "HEAD"):
        fresh = request(method, path, headers={**sent, "If-None-Match": etag})
        assert fresh.status_code == 304 and fresh.content == b""
        assert fresh.headers["ETag"] == etag
    body = {key: value for key, value in got.json().items() if key in {"text", "title"}}
    assert request("PUT", path, json=body, headers=sent).status_code == 428
    stale = request("PUT", path, json=body, headers={**sent, "If-Match": '"v999"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == etag
    written = request("PUT", path, json=body, headers={**sent, "If-Match": etag})
    assert written.status_code == 200, written.text
    assert written.headers["ETag"] != etag and written.json()["text"] == body["text"]


def after_commit_variant(code: str) -> str:
    """The quick start with the pattern the issue measured: commit, then build the body from
    ``condition.instance`` (which the commit expired, so it is read again at its latest
    version)."""
    before = (
        "        body = jsonify(text=condition.instance.text)      # the version just written\n"
        "        db.session.commit()\n"
        "        return body\n"
    )
    after = "        db.session.commit()\n        return jsonify(text=condition.instance.text)\n"
    assert before in code
    return code.replace(before, after)


@pytest.mark.parametrize("pattern", ["as written", "body read after commit"])
def test_flask_body_and_tag_when_another_writer_commits_in_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str
) -> None:
    """Deterministically, the window the concurrent test hits by chance: another writer
    commits right after this request's commit, before its body is built."""
    code = marked("docs/flask.md")["flask"]
    if pattern != "as written":
        code = after_commit_variant(code)
    name = "flask_window_" + ("written" if pattern == "as written" else "after")
    (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'window.db'}")
    module = __import__(name)
    app, db, document = module.app, module.db, module.Document
    from sqlalchemy import event, update

    # scaffolding: one document; and another writer, committing once just after ours
    with app.app_context():
        db.session.add(document(id=1, text=""))
        db.session.commit()
        engine = db.engine
    pending = [True]

    @event.listens_for(db.session, "after_commit")
    def another_writer(session: Any) -> None:
        if pending and pending.pop():
            with engine.begin() as connection:
                bump = document.__table__.c.version + 1
                connection.execute(update(document).values(text="theirs", version=bump))

    client = app.test_client()
    put = client.put("/documents/1", json={"text": "mine"}, headers={"If-Match": '"v1"'})
    assert put.status_code == 200
    if pattern == "as written":
        assert (put.headers["ETag"], put.json["text"]) == ('"v2"', "mine")
    else:
        assert (put.headers["ETag"], put.json["text"]) == ('"v3"', "theirs")
    with app.app_context():
        engine.dispose()
    sys.modules.pop(name, None)


# --- docs/fastapi.md ----------------------------------------------------------------------------


@pytest.mark.services
def test_fastapi_quick_start(
    tmp_path: Path, pg: Database, monkeypatch: pytest.MonkeyPatch, portal: Any
) -> None:
    from integrations.http_conformance import AsgiClient

    code = marked("docs/fastapi.md")["fastapi"]
    (tmp_path / "fastapi_quickstart.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", pg.sqlalchemy_url(asynchronous=True))
    module = __import__("fastapi_quickstart")
    # scaffolding: the table and document 1
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    sync = create_engine(pg.sqlalchemy_url())
    module.Base.metadata.drop_all(sync)
    module.Base.metadata.create_all(sync)
    with Session(sync) as session:
        session.add(module.Document(id=1, text="hello"))
        session.commit()
    sync.dispose()
    client = AsgiClient(module.app, portal)
    try:
        assert client.request("GET", "/documents/1").status_code == 401  # auth runs first
        check_reads_and_writes(client.request, "/documents/1", {"X-User": "ada"})
        missing = client.request("HEAD", "/documents/2", headers={"X-User": "ada"})
        assert missing.status_code == 404
        schema = client.request("GET", "/openapi.json").json()
        assert {"get", "head", "put"} <= set(schema["paths"]["/documents/{doc_id}"])
    finally:
        portal.call(module.engine.dispose)
        sys.modules.pop("fastapi_quickstart", None)


# --- docs/django.md and docs/drf.md: an app in a project, under gunicorn ------------------------

SETTINGS = """
# scaffolding: the project a reader already has (Django's default middleware, CSRF included)
import os
SECRET_KEY = "quick-start"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "documents.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    {extra}
    "documents",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}}]
STATIC_URL = "/static/"
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ["QS_DB_NAME"], "USER": os.environ["QS_DB_USER"],
    "HOST": os.environ["QS_DB_HOST"], "PORT": os.environ["QS_DB_PORT"],
}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""


def django_project(tmp_path: Path, files: dict[str, str], *, drf: bool) -> Path:
    """A project ``qsproject`` with the app ``documents`` made of the doc's files."""
    (tmp_path / "qsproject").mkdir()
    (tmp_path / "qsproject" / "__init__.py").write_text("")
    extra = '"rest_framework",' if drf else ""
    (tmp_path / "qsproject" / "settings.py").write_text(SETTINGS.format(extra=extra))
    app = tmp_path / "documents"
    app.mkdir()
    (app / "__init__.py").write_text("")
    for name, code in files.items():
        (app / name).write_text(code)
    return tmp_path


def run_django_app(tmp_path: Path, pg: Database, create: str, check: Callable[[str], None]) -> None:
    import subprocess

    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="qsproject.settings",
        QS_DB_NAME=pg.name,
        QS_DB_USER=pg.user,
        QS_DB_HOST=pg.host,
        QS_DB_PORT=str(pg.port),
    )
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    # scaffolding: the table (a fresh one: makemigrations + migrate) and document 1
    setup = textwrap.dedent(
        f"""
        import django
        django.setup()
        from django.db import connection
        from documents.models import Document
        with connection.schema_editor() as editor:
            if Document._meta.db_table in connection.introspection.table_names():
                editor.delete_model(Document)
            editor.create_model(Document)
        Document.objects.create(id=1, {create})
        """
    )
    subprocess.run([PYTHON, "-c", setup], env=env, cwd=tmp_path, check=True)
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "django.core.wsgi:get_wsgi_application()",
    ]
    with running_server(argv, port, env=env, cwd=tmp_path):
        check(f"http://127.0.0.1:{port}")


@pytest.mark.slow
@pytest.mark.services
def test_django_quick_start(tmp_path: Path, pg: Database) -> None:
    blocks = marked("docs/django.md")
    files = {
        "models.py": blocks["django/models.py"],
        "views.py": blocks["django/views.py"],
        "urls.py": blocks["django/urls.py"],
    }

    def check(base: str) -> None:
        check_head_and_304(base, "/documents/1/")
        with httpx.Client(base_url=base) as client:
            gone = client.get("/documents/2/")
            assert gone.status_code == 404

    run_django_app(django_project(tmp_path, files, drf=False), pg, 'text="hello"', check)


@pytest.mark.slow
@pytest.mark.services
def test_drf_quick_start(tmp_path: Path, pg: Database) -> None:
    blocks = marked("docs/drf.md")
    files = {
        name: blocks[f"drf/{name}"]
        for name in ("models.py", "serializers.py", "views.py", "urls.py")
    }

    def check(base: str) -> None:
        path = "/api/documents/1/"
        with httpx.Client(base_url=base) as client:
            got = client.get(path, headers={"Accept": "application/json"})
            assert got.status_code == 200 and got.headers["ETag"] == '"v1"'
            html = client.get(path, headers={"Accept": "text/html"})
            assert html.status_code == 200 and html.headers["ETag"] != '"v1"'
            crossed = client.get(path, headers={"Accept": "text/html", "If-None-Match": '"v1"'})
            assert crossed.status_code == 200  # the JSON's tag is not the page's
            assert "accept" in crossed.headers["Vary"].lower()
        sent = {"Accept": "application/json"}
        with httpx.Client(base_url=base, timeout=30) as client:
            request = client.request

            def with_title(method: str, url: str, **kwargs: Any) -> httpx.Response:
                if "json" in kwargs:
                    kwargs["json"] = {"title": "t", "text": "t"}
                response = request(method, url, **kwargs)
                return response

            got = request("GET", path, headers=sent)
            etag = got.headers["ETag"]
            head = request("HEAD", path, headers=sent)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["ETag"] == etag
            for method in ("GET", "HEAD"):
                fresh = request(method, path, headers={**sent, "If-None-Match": etag})
                assert fresh.status_code == 304 and fresh.headers["ETag"] == etag
            assert with_title("PUT", path, json={}, headers=sent).status_code == 428
            stale = with_title("PUT", path, json={}, headers={**sent, "If-Match": '"v9"'})
            assert stale.status_code == 412
            done = with_title("PUT", path, json={}, headers={**sent, "If-Match": etag})
            assert done.status_code == 200 and done.headers["ETag"] == '"v2"'

    run_django_app(django_project(tmp_path, files, drf=True), pg, 'title="hello"', check)
