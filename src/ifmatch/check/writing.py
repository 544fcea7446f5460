"""How a probe writes, once the ``write`` probe found a way: the request that sets the body
field to a value, and the value a GET shows."""

from __future__ import annotations

from typing import Any

from .context import Context, State
from .documents import Representation, value_at
from .messages import Request
from .ways import Constraints, Plan, Way

__all__ = [
    "constraints",
    "current_way",
    "method_of",
    "representation",
    "request_for",
    "stored_value",
    "write_request",
]


def representation(ctx: Context) -> Representation:
    """The document the probes change.

    Raises:
        RuntimeError: the preflight found none (the write probes do not run then).
    """
    if ctx.representation is None:
        raise RuntimeError("the preflight found no JSON document to write")
    return ctx.representation


def request_for(
    ctx: Context, way: Way, value: Any, headers: tuple[tuple[str, str], ...]
) -> Request:
    """A write setting the body field to ``value``, the way ``way`` does."""
    body = way.content(representation(ctx), value, ctx.options.template())
    return Request(way.method, (("Content-Type", way.content_type), *headers), body)


def write_request(ctx: Context, marker: str, headers: tuple[tuple[str, str], ...]) -> Request:
    """A write setting the body field to ``marker``, the way the ``write`` probe found (the
    first way to try, when a probe runs on its own)."""
    return request_for(ctx, current_way(ctx), marker, headers)


def current_way(ctx: Context) -> Way:
    """The way the ``write`` probe found, or the first of the plan when none was found yet."""
    if ctx.way is not None:
        return ctx.way
    way = Plan(representation(ctx), constraints(ctx)).next()
    assert way is not None, "a plan starts with at least one way"
    return way


def stored_value(ctx: Context, state: State) -> Any:
    """The body field as a GET shows it (``None`` when absent or not a 2xx JSON object)."""
    document = state.document() if state.response.is_success else None
    path = ctx.representation.path if ctx.representation else (ctx.options.body_field,)
    return None if document is None else value_at(document, path)


def method_of(ctx: Context) -> str:
    """The method writes use (for the probes' sentences)."""
    return current_way(ctx).method


def constraints(ctx: Context) -> Constraints:
    """What the user fixed about writes."""
    options = ctx.options
    return Constraints(
        options.write_method, options.content_type, options.body_template is not None
    )
