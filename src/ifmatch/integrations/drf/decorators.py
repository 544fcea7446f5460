"""The class decorator: conditional requests for an existing generic view or viewset in one
line, with the ergonomics of the 2018 Paris.py talk but none of its races::

    @conditional()
    class DocumentView(RetrieveAPIView, UpdateAPIView):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .mixins import ConditionalMixin
from .settings import DEFAULTS

__all__ = ["conditional"]

ViewT = TypeVar("ViewT", bound=type)

_EXTRA = {"scheme", "allow_put_create", "answer_reads_early"}


def conditional(**options: Any) -> Callable[[ViewT], ViewT]:
    """Return a class decorator that puts :class:`ConditionalMixin` in front of a view class.

    Args:
        options: ``scheme`` (``"etag"`` or ``"version"``), ``allow_put_create``, or any
            ``IFMATCH`` setting in lower case (``warn_only=True``,
            ``require_precondition=()``), stored as ``ifmatch_<name>`` class attributes.

    Returns:
        The decorator; the decorated class is a subclass with the same name and module.

    Raises:
        TypeError: an unknown option.
    """
    known = {key.lower() for key in DEFAULTS} | _EXTRA
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown conditional() options: {', '.join(sorted(unknown))}")
    attributes = {f"ifmatch_{name}": value for name, value in options.items()}

    def decorate(view_class: ViewT) -> ViewT:
        namespace = {
            "__module__": view_class.__module__,
            "__qualname__": view_class.__qualname__,
            "__doc__": view_class.__doc__,
            **attributes,
        }
        bases = (
            (view_class,)
            if issubclass(view_class, ConditionalMixin)
            else (
                ConditionalMixin,
                view_class,
            )
        )
        decorated = type(view_class.__name__, bases, namespace)
        return decorated  # type: ignore[return-value]

    return decorate
