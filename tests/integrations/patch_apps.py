"""Apps serving one JSON document resource that takes merge-patch and JSON Patch bodies: Flask
(``flask_patch``) and FastAPI (``starlette_patch``), over the memory store or, with
``IFMATCH_EXAMPLE_DATABASE_URL`` set (gunicorn, uvicorn), the SQLAlchemy store on that database.

A document is ``{"title": str, "tokens": {name: true, ...}}``. ``/documents/{id}`` requires
``If-Match`` on writes (428 without); ``/open/{id}`` lets an unconditional PATCH through, which
the helper applies to the version it reads and re-applies if another writer won.
"""

import os
import time
from collections.abc import Mapping
from typing import Annotated, Any

from sqlalchemy import JSON, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ifmatch.stores.sqlalchemy import Versioned
from integrations.example_models import DATABASE_URL_ENV


class Base(DeclarativeBase):
    pass


class PatchDocument(Versioned, Base):
    __tablename__ = "ifmatch_patch_documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    tokens: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def create_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def represent(values: Mapping[str, Any]) -> dict[str, Any]:
    """The representation of a stored row: its title and tokens (not its key or version)."""
    return {"title": values["title"], "tokens": dict(values["tokens"] or {})}


def check_document(document: Any) -> dict[str, Any]:
    """The values to store for a patched representation; ``ValueError`` refuses it (422)."""
    extra = sorted(set(document) - {"title", "tokens"})
    if extra:
        raise ValueError(f"unknown members: {extra}")
    title, tokens = document.get("title"), document.get("tokens", {})
    if not isinstance(title, str) or len(title) > 200:
        raise ValueError("title must be a string of at most 200 characters")
    if not isinstance(tokens, dict) or any(value is not True for value in tokens.values()):
        raise ValueError("tokens must be an object whose members are all true")
    return {"title": title, "tokens": tokens}


def _store(asynchronous: bool) -> Any:
    from ifmatch.stores.memory import MemoryStore

    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        return MemoryStore()
    if asynchronous:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore

        engine = create_async_engine(url, pool_size=4, max_overflow=0)
        return AsyncSQLAlchemyStore(PatchDocument, async_sessionmaker(engine))
    from sqlalchemy.orm import sessionmaker

    from ifmatch.stores.sqlalchemy import SQLAlchemyStore

    return SQLAlchemyStore(PatchDocument, sessionmaker(create_engine(url, pool_size=2)))


def create_flask_app(store: Any = None, *, idempotency: bool = False) -> Any:
    from flask import Flask, jsonify, request
    from flask.typing import ResponseReturnValue

    from ifmatch.integrations.flask import IfMatch, current_condition
    from ifmatch.integrations.flask_patch import accepts_patch, apply_patch

    chosen = store if store is not None else _store(asynchronous=False)
    app = Flask(__name__)
    ifmatch = IfMatch(app, store=chosen)

    def view(doc_id: str) -> ResponseReturnValue:
        condition = current_condition()
        if request.method == "PATCH":
            return jsonify(apply_patch(check_document, represent=represent))
        if request.method == "PUT":
            condition.write(check_document(request.get_json()))
            return jsonify(request.get_json()), 201 if condition.snapshot is None else 200
        found = chosen.get(doc_id)
        condition.serve(found[0])
        return jsonify(represent(found[1]))

    methods = ["GET", "PUT", "PATCH"]
    app.add_url_rule(
        "/documents/<doc_id>",
        "documents",
        accepts_patch()(ifmatch.protect(create=True, idempotency=idempotency)(view)),
        methods=methods,
    )
    app.add_url_rule(
        "/open/<doc_id>",
        "open",
        accepts_patch()(ifmatch.protect(create=True, require=())(view)),
        methods=methods,
    )

    @app.route("/naive/<doc_id>", methods=["GET", "PATCH"])
    def naive(doc_id: str) -> ResponseReturnValue:
        # A patch applied to what was read, then written without a condition: kept only so
        # the race test shows its harness catches lost patches.
        from ifmatch.core.patching import apply_merge_patch
        from ifmatch.stores import Expectation

        snapshot, values = chosen.get(doc_id)
        if request.method == "GET":
            return jsonify(represent(values)), {"ETag": str(snapshot.etag())}
        patched = apply_merge_patch(represent(values), request.get_json(force=True))
        time.sleep(0.005)  # the view's own work between the read and the write
        chosen.compare_and_set(doc_id, Expectation(exists=True), check_document(patched))
        return jsonify(patched)

    return app


async def _get(store: Any, key: str) -> Any:
    import inspect

    if inspect.iscoroutinefunction(store.get):
        return await store.get(key)
    return store.get(key)


def create_fastapi_app(store: Any = None, *, idempotency: bool = False) -> Any:
    from fastapi import Body, Depends, FastAPI, Response

    from ifmatch.core import Policy
    from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
    from ifmatch.integrations.starlette_patch import AcceptsPatch, apply_patch, patch_openapi

    chosen = store if store is not None else _store(asynchronous=True)
    app = FastAPI()
    accepts = AcceptsPatch()
    for prefix, policy in (("documents", Policy()), ("open", Policy(require_precondition=()))):
        guarded = Conditional(
            chosen, key="doc_id", create=True, policy=policy, idempotency=idempotency
        )
        Condition = Annotated[ConditionalRequest, Depends(guarded)]

        @app.get(f"/{prefix}/{{doc_id}}", dependencies=[Depends(accepts)])
        async def read(doc_id: str, condition: Condition) -> dict[str, Any]:
            found = await _get(chosen, doc_id)
            condition.serve(found[0])
            return represent(found[1])

        @app.options(f"/{prefix}/{{doc_id}}", dependencies=[Depends(accepts)])
        async def options(doc_id: str, response: Response) -> None:
            response.headers["Allow"] = "GET, HEAD, PUT, PATCH, OPTIONS"

        @app.put(f"/{prefix}/{{doc_id}}")
        async def put(
            doc_id: str,
            condition: Condition,
            document: Annotated[dict[str, Any], Body()],
            response: Response,
        ) -> dict[str, Any]:
            try:
                values = check_document(document)
            except ValueError as error:
                from fastapi import HTTPException

                raise HTTPException(422, str(error)) from None
            await condition.write(values)
            response.status_code = 201 if condition.snapshot is None else 200
            return document

        @app.patch(f"/{prefix}/{{doc_id}}", openapi_extra=patch_openapi())
        async def patch(doc_id: str, condition: Condition) -> Any:
            return await apply_patch(condition, check_document, represent=represent)

    return install(app)
