"""FastAPI and Starlette apps over one in-memory store, each keeping its access decision in a
different place, as users write them from docs/fastapi.md. Authentication is one header
(``X-User``): 401 without it, 403 for a user who does not own the document."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, conditional
from ifmatch.stores.memory import MemoryStore
from integrations.access.cases import USER_HEADER

FASTAPI_HOOKS = (
    "app-dependency",
    "route-dependency",
    "parameter-before-condition",
    "parameter-after-condition",
    "dependency-on-condition",
    "handler-body",
    "route-dependency-answered-early",
)


class Body(BaseModel):
    title: str
    text: str


def owner_of(store: MemoryStore, key: Any) -> str | None:
    found = store.get(key)
    return None if found is None else str(found[1]["owner"])


def check_owner(store: MemoryStore, user: str | None, key: Any) -> None:
    if not user:
        raise HTTPException(401, headers={"WWW-Authenticate": USER_HEADER})
    if user != owner_of(store, key):
        raise HTTPException(403)


def create_fastapi(hook: str, store: MemoryStore) -> FastAPI:
    def owner_from_path(
        request: Request, x_user: Annotated[str | None, Header()] = None
    ) -> str | None:
        if "doc_id" in request.path_params:
            check_owner(store, x_user, int(request.path_params["doc_id"]))
        return x_user

    app_dependencies = [Depends(owner_from_path)] if hook == "app-dependency" else []
    app = install(FastAPI(dependencies=app_dependencies))
    documents = Conditional(
        store,
        key=lambda request: int(request.path_params["doc_id"]),
        answer_before_view=hook.endswith("answered-early"),
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]
    Owner = Annotated[str | None, Depends(owner_from_path)]

    def owned(
        condition: Condition, x_user: Annotated[str | None, Header()] = None
    ) -> ConditionalRequest:
        check_owner(store, x_user, condition.key)
        return condition

    route_dependencies = [Depends(owner_from_path)] if hook.startswith("route-dependency") else []

    async def act(request: Request, condition: ConditionalRequest, body: Body | None) -> Any:
        if request.method == "DELETE":
            await condition.delete()
            return Response(status_code=204)
        if body is not None:
            await condition.write({"title": body.title, "text": body.text})
        found = store.get(condition.key)
        assert found is not None
        return {"id": condition.key, "title": found[1]["title"], "text": found[1]["text"]}

    methods = ["GET", "PUT", "PATCH", "DELETE"]
    path = "/documents/{doc_id}"

    if hook == "parameter-before-condition":

        @app.api_route(path, methods=methods)
        async def before(
            request: Request,
            doc_id: int,
            user: Owner,
            condition: Condition,
            body: Body | None = None,
        ) -> Any:
            return await act(request, condition, body)

    elif hook == "parameter-after-condition":

        @app.api_route(path, methods=methods)
        async def after(
            request: Request,
            doc_id: int,
            condition: Condition,
            user: Owner,
            body: Body | None = None,
        ) -> Any:
            return await act(request, condition, body)

    elif hook == "dependency-on-condition":

        @app.api_route(path, methods=methods)
        async def on_condition(
            request: Request,
            doc_id: int,
            condition: Annotated[ConditionalRequest, Depends(owned)],
            body: Body | None = None,
        ) -> Any:
            return await act(request, condition, body)

    elif hook == "handler-body":

        @app.api_route(path, methods=methods)
        async def in_body(
            request: Request,
            doc_id: int,
            condition: Condition,
            body: Body | None = None,
            x_user: Annotated[str | None, Header()] = None,
        ) -> Any:
            check_owner(store, x_user, doc_id)
            return await act(request, condition, body)

    else:

        @app.api_route(path, methods=methods, dependencies=route_dependencies)
        async def plain(
            request: Request, doc_id: int, condition: Condition, body: Body | None = None
        ) -> Any:
            return await act(request, condition, body)

    return app


def create_starlette(store: MemoryStore) -> Starlette:
    """A Starlette endpoint that checks access itself, in its body."""

    @conditional(store, key=lambda request: int(request.path_params["doc_id"]))
    async def document(request: Any) -> Any:
        key = int(request.path_params["doc_id"])
        check_owner(store, request.headers.get(USER_HEADER), key)
        condition = request.state.ifmatch
        if request.method == "DELETE":
            await condition.delete()
            return Response(status_code=204)
        if request.method in {"PUT", "PATCH"}:
            data = await request.json()
            await condition.write({"title": data["title"], "text": data["text"]})
        found = store.get(key)
        assert found is not None
        return JSONResponse({"id": key, "title": found[1]["title"]})

    route = Route("/documents/{doc_id}", document, methods=["GET", "PUT", "PATCH", "DELETE"])
    return Starlette(routes=[route], exception_handlers=dict(EXCEPTION_HANDLERS))
