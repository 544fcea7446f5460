"""flask-smorest and Werkzeug's conditional helpers, each the way its documentation shows, in
one WSGI app for gunicorn (``peers.flask_stacks:create_app()``):

- ``/smorest/documents/<id>``: flask-smorest's ETag example: ``@blp.etag`` on a ``MethodView``,
  ``@blp.arguments`` with a marshmallow schema whose ``id`` is ``dump_only``, and
  ``blp.check_etag`` before the update. Its OpenAPI document is served (``/smorest/openapi.json``)
  as the quickstart configures it.
- ``/werkzeug/documents/<id>``: a plain Flask view: ``add_etag`` and ``make_conditional`` on GET;
  PATCH (the only write) compares ``request.if_match`` with the current tag, then updates.

One SQLAlchemy session per request, as Flask-SQLAlchemy does.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, jsonify, request
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from peers.tables import PeerDocument, database_url


class DocumentSchema(Schema):
    id = fields.Int(dump_only=True)
    title = fields.String()
    text = fields.String(required=True)


def create_app() -> Flask:
    engine = create_engine(database_url(), pool_size=2, max_overflow=2)
    db = scoped_session(sessionmaker(engine))

    def remove_session(exc: BaseException | None) -> None:
        db.remove()

    def get_or_404(doc_id: int) -> PeerDocument:
        doc = db.get(PeerDocument, doc_id)
        if doc is None:
            abort(404)
        return doc

    # --- flask-smorest -----------------------------------------------------------------
    smorest = Flask("smorest")
    smorest.config.update(
        API_TITLE="Documents",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.2",
        OPENAPI_URL_PREFIX="/",
    )
    smorest.teardown_appcontext(remove_session)
    api = Api(smorest)
    blp = Blueprint("documents", __name__, url_prefix="/documents")

    @blp.route("/<int:doc_id>")
    class DocumentById(MethodView):
        @blp.etag
        @blp.response(200, DocumentSchema)
        def get(self, doc_id: int) -> Any:
            return get_or_404(doc_id)

        @blp.etag
        @blp.arguments(DocumentSchema)
        @blp.response(200, DocumentSchema)
        def put(self, update_data: dict[str, Any], doc_id: int) -> Any:
            doc = get_or_404(doc_id)
            blp.check_etag(doc, DocumentSchema)
            doc.title = update_data.get("title", doc.title)
            doc.text = update_data["text"]
            doc.version += 1
            db.commit()
            return doc

    api.register_blueprint(blp)

    # --- Werkzeug's conditional helpers ----------------------------------------------------
    app = Flask(__name__)
    app.teardown_appcontext(remove_session)

    def representation(doc: PeerDocument) -> Response:
        response = jsonify(id=doc.id, title=doc.title, text=doc.text)
        response.add_etag()
        return response

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.route("/werkzeug/documents/<int:doc_id>", methods=["GET", "PATCH"])
    def werkzeug_document(doc_id: int) -> Response:
        doc = get_or_404(doc_id)
        if request.method == "PATCH":
            current, _ = representation(doc).get_etag()
            if not request.if_match:
                abort(428)
            if not request.if_match.contains(current or ""):
                abort(412)
            patch = request.get_json()
            doc.title = patch.get("title", doc.title)
            doc.text = patch.get("text", doc.text)
            doc.version += 1
            db.commit()
        return representation(doc).make_conditional(request)

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/smorest": smorest.wsgi_app})  # type: ignore[method-assign]
    return app
