"""The documentation agrees with the code."""

from __future__ import annotations

import importlib.util
import re
import tomllib
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


#: Where the README's links point: a package index shows the README without the repository, so
#: every link and image is absolute, into this repository's main branch.
REPOSITORY = "https://github.com/ifmatch/ifmatch"
RAW = "https://raw.githubusercontent.com/ifmatch/ifmatch/main/"


def test_readme_links_are_absolute_and_reach_files_of_this_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    relative = [t for t in targets if not re.match(r"https?://", t)]
    assert relative == [], "a package index page cannot follow relative links"
    for target in targets:
        for prefix in (f"{REPOSITORY}/blob/main/", RAW):
            if target.startswith(prefix):
                path = target.removeprefix(prefix).partition("#")[0]
                assert (ROOT / path).is_file(), target


def test_project_urls_point_at_the_repository() -> None:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Source"] == REPOSITORY
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    changelog = urls["Changelog"].removeprefix(f"{REPOSITORY}/blob/main/")
    assert (ROOT / changelog).is_file()


def test_readme_marks_the_docs_command() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- docs-command -->\n```bash\n(.+)\n```", readme)
    assert match is not None
    assert "--group docs" in match.group(1) and match.group(1).endswith("mkdocs serve")
