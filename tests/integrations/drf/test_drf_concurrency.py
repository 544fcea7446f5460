"""Lost updates through real servers: gunicorn with several workers serving the DRF viewset on
PostgreSQL and on MariaDB loses nothing; the 2018 talk's naive decorator, under the same
harness, loses acknowledged writes (so the harness is known to be able to fail)."""

from __future__ import annotations

import pytest

import djangoproject
from services import Database

djangoproject.setup()

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import Exchange, append_race, gunicorn  # noqa: E402
from djangoproject.lint import lint_exchange  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.services]


def _prepare(db: Database, alias: str) -> int:
    djangoproject.add_database(alias, db.django_settings())
    doc = Document(title="race", text="")
    doc.save(using=alias)
    return int(doc.pk)


@pytest.mark.parametrize("vendor", ["postgresql", "mariadb"])
def test_gunicorn_workers_lose_no_update(request: pytest.FixtureRequest, vendor: str) -> None:
    db: Database = request.getfixturevalue(
        "postgres_db" if vendor == "postgresql" else "mariadb_db"
    )
    pk = _prepare(db, vendor)
    record: list[Exchange] = []
    with gunicorn(db.url, workers=4) as port:
        result = append_race(
            port, f"/api/documents/{pk}/", tokens_each=3, seconds=45, record=record
        )
    assert result.errors == []
    assert len(result.acknowledged) >= 10, "too few writes went through to prove anything"
    assert result.lost == []
    assert result.final_text.count("<") == len(result.acknowledged)
    assert result.refused > 0, "no contention happened: the test proved nothing"
    problems = [
        problem
        for exchange in record
        for problem in lint_exchange(
            exchange.method,
            "http://127.0.0.1" + exchange.path,
            exchange.request_headers,
            exchange.request_body,
            exchange.status,
            exchange.reason,
            exchange.response_headers,
            exchange.response_body,
        )
    ]
    assert problems == []


def test_naive_talk_decorator_loses_updates(postgres_db: Database) -> None:
    """The reference arm: ETag = md5(text), compare If-Match, then save. Same harness."""
    pk = _prepare(postgres_db, "postgresql")
    with gunicorn(postgres_db.url, workers=4) as port:
        result = append_race(port, f"/naive/documents/{pk}/", tokens_each=3, seconds=30)
    assert result.errors == []
    assert result.acknowledged
    assert result.lost, "the naive check-then-write arm lost nothing: the harness cannot fail"
