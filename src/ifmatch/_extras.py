"""Optional dependencies: which extra a command needs, and one line saying so when it is missing.

``ifmatch`` itself depends on nothing; each command that needs more names the extra that brings
it (``pip install 'ifmatch[check]'``). :func:`require` looks the extra's requirements up in the
installed package's own metadata, so the list is exactly pyproject.toml's; where that metadata
is absent (a source checkout on ``sys.path``), :func:`needs` still turns an import that fails
inside the command into the same one-line answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata

__all__ = ["MissingExtra", "missing_requirements", "needs", "require"]

# "httpx>=0.27; extra == 'check'", as installers write Requires-Dist (names may carry extras).
_REQUIRES_DIST = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;\s*extra\s*==\s*['\"](?P<extra>[^'\"]+)['\"]\s*$"
)


class MissingExtra(Exception):
    """An optional dependency of a command is not installed."""

    def __init__(self, extra: str, missing: Sequence[str]) -> None:
        super().__init__(extra, tuple(missing))
        self.extra = extra
        self.missing = tuple(missing)

    def __str__(self) -> str:
        shown = self.missing[:3]
        names = ", ".join(shown)
        if len(self.missing) > len(shown):
            names += f" and {len(self.missing) - len(shown)} more"
        verb = "is" if len(self.missing) == 1 else "are"
        return (
            f"needs the '{self.extra}' extra ({names} {verb} not installed): "
            f"pip install 'ifmatch[{self.extra}]'"
        )


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_requirements(extra: str) -> tuple[str, ...] | None:
    """The distributions ``extra`` requires that are not installed, in metadata order.

    Returns:
        ``None`` when ifmatch's metadata cannot be read (a source checkout that is not
        installed): then nothing is known, and :func:`needs` is the only guard.
    """
    try:
        requirements = metadata.requires("ifmatch")
    except metadata.PackageNotFoundError:
        return None
    missing: list[str] = []
    for requirement in requirements or ():
        match = _REQUIRES_DIST.match(requirement)
        if match is None or _normalized(match["extra"]) != _normalized(extra):
            continue
        name = match["name"]
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name not in missing:
                missing.append(name)
    return tuple(missing)


def require(extra: str) -> None:
    """Raise :class:`MissingExtra` when a requirement of ``extra`` is not installed."""
    missing = missing_requirements(extra)
    if missing:
        raise MissingExtra(extra, missing)


@contextmanager
def needs(extra: str) -> Iterator[None]:
    """Check ``extra`` up front, and report a third-party module missing inside as that extra.

    Raises:
        MissingExtra: a requirement of ``extra`` is not installed, or the block imported a
            module that is not there (not one of ifmatch's own).
    """
    require(extra)
    try:
        yield
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if not top or top == "ifmatch":
            raise
        raise MissingExtra(extra, (top,)) from error
