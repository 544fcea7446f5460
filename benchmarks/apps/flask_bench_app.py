"""The Flask app the Flask benchmark serves with gunicorn: the same documents through plain
views, through ifmatch, and through flask-smorest's ``@blp.etag``, serialized by marshmallow."""

from __future__ import annotations

import os
from typing import Any

from bench_models import DATABASE_URL_ENV, BenchDoc, BenchItem
from flask import Flask, abort, jsonify, request
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores.sqlalchemy import SQLAlchemyStore


class MetaSchema(Schema):
    tags = fields.List(fields.String())
    label = fields.String()


class ItemSchema(Schema):
    position = fields.Integer()
    name = fields.String()
    value = fields.Float()
    meta = fields.Nested(MetaSchema)


class DocSchema(Schema):
    id = fields.String()
    text = fields.String()
    items = fields.List(fields.Nested(ItemSchema))


DOC_SCHEMA = DocSchema()


def load_document(session: Session, doc_id: str) -> dict[str, Any]:
    """The document and its items as plain objects, ready for the schema."""
    doc = session.get(BenchDoc, doc_id)
    assert doc is not None
    rows = session.scalars(
        select(BenchItem).where(BenchItem.doc_id == doc_id).order_by(BenchItem.position)
    )
    items = [
        {
            "position": row.position,
            "name": row.name,
            "value": row.value,
            "meta": {"tags": row.tags.split(","), "label": f"#{row.position}"},
        }
        for row in rows
    ]
    return {"id": doc.id, "text": doc.text, "items": items}


def create_app() -> Flask:
    engine = create_engine(os.environ[DATABASE_URL_ENV], pool_size=2, max_overflow=2)
    # One session (one transaction, one connection) per request, as Flask-SQLAlchemy does;
    # the store reads and writes inside it and the view commits.
    db = scoped_session(sessionmaker(engine))
    app = Flask(__name__)
    app.config.update(API_TITLE="bench", API_VERSION="1", OPENAPI_VERSION="3.0.2")
    ifmatch = IfMatch(app, store=SQLAlchemyStore(BenchDoc, db))

    @app.teardown_appcontext
    def remove_session(exc: BaseException | None) -> None:
        db.remove()

    @app.get("/health")
    def health() -> str:
        return "ok"

    # The same views without ifmatch: load the row (404 if missing), then render or update.
    @app.get("/bare/<doc_id>")
    def bare_get(doc_id: str) -> Any:
        if db.get(BenchDoc, doc_id) is None:
            abort(404)
        return jsonify(DOC_SCHEMA.dump(load_document(db(), doc_id)))

    @app.put("/bare/<doc_id>")
    def bare_put(doc_id: str) -> Any:
        text = request.get_json()["text"]
        if db.get(BenchDoc, doc_id) is None:
            abort(404)
        db.execute(update(BenchDoc).where(BenchDoc.id == doc_id).values(text=text))
        db.commit()
        return jsonify(id=doc_id, text=text)

    # With ifmatch: the decorator loads the row (its version gives the ETag), the view uses it.
    @app.route("/ifmatch/<doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect(load=lambda key: db.get(BenchDoc, key))
    def protected(doc_id: str) -> Any:
        if request.method == "PUT":
            text = request.get_json()["text"]
            current_condition().write({"text": text})
            db.commit()
            return jsonify(id=doc_id, text=text)
        return jsonify(DOC_SCHEMA.dump(load_document(db(), doc_id)))

    api = Api(app)
    blp = Blueprint("smorest", __name__, url_prefix="/smorest")

    @blp.route("/<doc_id>")
    class SmorestDocument(MethodView):
        @blp.etag
        @blp.response(200, DocSchema)
        def get(self, doc_id: str) -> Any:
            if db.get(BenchDoc, doc_id) is None:
                abort(404)
            return load_document(db(), doc_id)

    api.register_blueprint(blp)
    return app
