"""ifmatch.integrations.flask through Flask's test client: the shared conformance table against
a view function and a MethodView, then configuration, error formats and the write paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conformance import HTTP_CASES, Case
from integrations.example_flask import create_app
from integrations.http_conformance import Exchange, Headers, Runner, with_date


def flask_sender(client: FlaskClient) -> Runner:
    def send(method: str, target: str, headers: Headers, body: bytes | None) -> Exchange:
        response = client.open(target, method=method, headers=headers, data=body)
        return Exchange(
            method,
            target,
            headers,
            body,
            response.status_code,
            with_date(list(response.headers.items())),
            response.get_data(),
        )

    return Runner(send)


@pytest.fixture
def app() -> Flask:
    return create_app()


@pytest.fixture
def runner(app: Flask) -> Iterator[Runner]:
    runner = flask_sender(app.test_client())
    yield runner
    runner.lint_all()


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_view_function(runner: Runner, case: Case) -> None:
    runner.run(case)


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_method_view(runner: Runner, case: Case) -> None:
    runner.base = "/views/documents/"
    runner.run(case)
