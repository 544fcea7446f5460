"""What importing the client loads."""

from __future__ import annotations

import subprocess

from services import PYTHON, subprocess_env


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    output = subprocess.run(
        [PYTHON, "-c", code], env=subprocess_env(), capture_output=True, text=True, check=True
    ).stdout
    return set(output.split())


def test_import_ifmatch_loads_no_http_library() -> None:
    loaded = loaded_after("import ifmatch")
    assert not {"httpx", "requests", "jsonpatch", "ifmatch.client"} & loaded


def test_import_ifmatch_client_loads_httpx_only() -> None:
    loaded = loaded_after("import ifmatch.client")
    assert "httpx" in loaded
    assert not {"requests", "jsonpatch", "ifmatch.client.requests_adapter"} & loaded
