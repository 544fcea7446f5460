"""The Flask benchmark app (gunicorn): the same documents without ifmatch, with ifmatch, with
flask-smorest's ``@blp.etag`` (GET, and ``check_etag`` before a PUT, as its docs show) and
with Werkzeug's ``add_etag`` + ``make_conditional``; serialized by marshmallow."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from sa_models import DATABASE_URL_ENV, BenchDoc, BenchItem
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import scoped_session, sessionmaker
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores.sqlalchemy import SQLAlchemyStore


class ItemSchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    name = fields.String()
    value = fields.Float()
    tags = fields.String()


class DocSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    text = fields.String()
    items = fields.List(fields.Nested(ItemSchema))


class TextSchema(Schema):
    text = fields.String(required=True)
    title = fields.String()


DOC_SCHEMA = DocSchema()


def create_app() -> Flask:
    url = os.environ[DATABASE_URL_ENV].replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url, pool_size=4, max_overflow=8)
    # One session (one transaction) per request, as Flask-SQLAlchemy does.
    db = scoped_session(sessionmaker(engine))
    app = Flask(__name__)
    store = SQLAlchemyStore(BenchDoc, db)
    ifmatch = IfMatch(app, store=store)

    @app.teardown_appcontext
    def remove_session(exc: BaseException | None) -> None:
        db.remove()

    def get_or_404(doc_id: int) -> BenchDoc:
        doc = db.get(BenchDoc, doc_id)
        if doc is None:
            abort(404)
        return doc

    def document(doc: BenchDoc) -> dict[str, Any]:
        """The document and its items as plain objects, ready for the schema."""
        rows = db.scalars(
            select(BenchItem).where(BenchItem.doc_id == doc.id).order_by(BenchItem.position)
        )
        return {"id": doc.id, "title": doc.title, "text": doc.text, "items": list(rows)}

    def write(doc_id: int) -> str:
        text: str = request.get_json()["text"]
        statement = update(BenchDoc).where(BenchDoc.id == doc_id)
        db.execute(statement.values(text=text, version=BenchDoc.version + 1))
        return text

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.route("/flask/bare/docs/<int:doc_id>", methods=["GET", "PUT"])
    def bare(doc_id: int) -> Any:
        doc = get_or_404(doc_id)
        if request.method == "PUT":
            write(doc_id)
            db.commit()  # expires doc: the response reads the new row
        return jsonify(DOC_SCHEMA.dump(document(doc)))

    @app.route("/flask/ifmatch/docs/<int:doc_id>", methods=["GET", "PUT"])
    # No access check in the view: answer 304/412 before it runs (the early mode), and a
    # revalidation still current from the validators alone (docs/flask.md).
    @ifmatch.protect(
        load=lambda key: db.get(BenchDoc, key), answer_before_view=True, validators=store.peek
    )
    def protected(doc_id: int) -> Any:
        condition = current_condition()
        if request.method == "PUT":
            condition.write({"text": request.get_json()["text"]})  # the guarded UPDATE
            db.commit()
        return jsonify(DOC_SCHEMA.dump(document(condition.instance)))

    @app.get("/flask/werkzeug/docs/<int:doc_id>")
    def werkzeug(doc_id: int) -> Response:
        response = jsonify(DOC_SCHEMA.dump(document(get_or_404(doc_id))))
        response.add_etag()
        return response.make_conditional(request)

    # flask-smorest in an app of its own: its Api handles every HTTPException, which would
    # otherwise also reformat ifmatch's answers.
    peer = Flask("smorest")
    peer.config.update(API_TITLE="bench", API_VERSION="1", OPENAPI_VERSION="3.0.2")
    peer.teardown_appcontext(remove_session)
    api = Api(peer)
    blp = Blueprint("smorest", __name__)  # mounted at /flask/flask-smorest below

    @blp.route("/docs/<int:doc_id>")
    class SmorestDocument(MethodView):
        @blp.etag
        @blp.response(200, DocSchema)
        def get(self, doc_id: int) -> Any:
            return document(get_or_404(doc_id))

        @blp.etag
        @blp.arguments(TextSchema)
        @blp.response(200, DocSchema)
        def put(self, data: dict[str, Any], doc_id: int) -> Any:
            doc = get_or_404(doc_id)
            blp.check_etag(document(doc), DocSchema)  # checked here, written below
            write(doc_id)
            db.commit()
            return document(doc)

    api.register_blueprint(blp)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/flask/flask-smorest": peer.wsgi_app})  # type: ignore[method-assign]
    return app
