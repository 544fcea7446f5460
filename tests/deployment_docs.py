"""The code blocks of docs/deployment.md, as the tests run them against real servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"


def run_snippet(name: str, replacements: dict[str, str]) -> dict[str, Any]:
    """Run the block marked ``<!-- deployment: name -->`` with the servers' addresses put in
    place of the page's; answer its globals."""
    text = PAGE.read_text()
    block = text.split(f"<!-- deployment: {name} -->\n```python\n", 1)[1].split("```", 1)[0]
    for old, new in replacements.items():
        assert old in block, old
        block = block.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(block, f"{PAGE}:{name}", "exec"), namespace)
    return namespace
