"""The documentation agrees with the code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_decision_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "decision_table", ROOT / "scripts" / "decision_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document = (ROOT / "docs" / "core.md").read_text()
    assert module.updated(document) == document, "run: python scripts/decision_table.py --write"


def test_readme_has_the_marked_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\n```bash\n(.+)\n```", readme)
    assert match is not None
    assert "pytest" in match.group(1) and "pip install" in match.group(1)


def test_every_docs_link_in_readme_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.(?:md|png))\)", readme):
        assert (ROOT / target).exists(), target
