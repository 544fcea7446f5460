"""Print pip constraints pinning every optional dependency of ifmatch to its declared lower bound.

    python .ci/lowest_constraints.py > lowest.txt
    pip install -e '.[all,demo]' --group test -c lowest.txt

CI installs the test environment a second time with these constraints and runs the suite in it,
so each ``>=`` in pyproject.toml's extras names a version that is tested (the dependencies of
those packages resolve as usual). Every requirement of an extra must have a ``>=`` lower bound.
Only the standard library is used: this runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*>=\s*(?P<lower>[^,;\s]+)"
    r"(?:\s*,\s*<[^,;\s]+)?\s*(?:;.*)?"
)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lower_bounds(pyproject: dict[str, object]) -> dict[str, str]:
    """``{normalized name: lower bound}`` for every third-party requirement of every extra.

    Raises:
        ValueError: a requirement without a ``>=`` lower bound, or two different bounds.
    """
    project = pyproject["project"]
    assert isinstance(project, dict)
    bounds: dict[str, str] = {}
    own = _normalized(str(project["name"]))
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for requirement in requirements:
            if _normalized(re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]) == own:
                continue
            match = REQUIREMENT.fullmatch(requirement.strip())
            if match is None:
                raise ValueError(f"extra {extra!r}: {requirement!r} has no '>=' lower bound")
            name, lower = _normalized(match["name"]), match["lower"]
            if bounds.setdefault(name, lower) != lower:
                raise ValueError(f"{name}: two lower bounds, {bounds[name]} and {lower}")
    return bounds


def main() -> int:
    bounds = lower_bounds(tomllib.loads(PYPROJECT.read_text(encoding="utf-8")))
    sys.stdout.write("".join(f"{name}=={lower}\n" for name, lower in sorted(bounds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
