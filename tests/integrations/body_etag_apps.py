"""The example apps behind the body entity-tag middleware, as server processes load them:
clients send the tag in the body (AIP-154 ``etag``) and get a 409 for a stale one."""

from __future__ import annotations

from typing import Any

from flask import Flask

from ifmatch.integrations.bodyetag import BodyETag, BodyETagASGI, BodyETagWSGI
from integrations import example_fastapi, example_flask

CONFIG = BodyETag(mismatch_status=409)


def flask_app() -> Flask:
    """``example_flask.create_app()`` (the SQLAlchemy store on the configured database)."""
    app = example_flask.create_app()
    app.wsgi_app = BodyETagWSGI(app.wsgi_app, CONFIG)  # type: ignore[method-assign]
    return app


def fastapi_app() -> Any:
    """``example_fastapi.create_app()`` (the async SQLAlchemy store on the configured database)."""
    return BodyETagASGI(example_fastapi.create_app(), CONFIG)
