"""Keep an API safe from lost updates, from its own test suite.

::

    from ifmatch.testing import assert_conditional_write_safe

    def test_documents_cannot_lose_updates(app):
        assert_conditional_write_safe(app, "/documents/1", body_field="text")

The same probes as ``ifmatch check --write``, against a URL, an httpx client, or a WSGI/ASGI
app in-process. The pytest plugin (``ifmatch.testing.plugin``) adds an ``ifmatch_check``
fixture whose race settings come from ``--ifmatch-rounds`` / ``--ifmatch-concurrency``.
"""

from .assertions import (
    UnsafeAPIError,
    acheck_target,
    assert_conditional_write_safe,
    assert_conditional_write_safe_async,
    check_target,
    is_asgi_app,
)

__all__ = [
    "UnsafeAPIError",
    "acheck_target",
    "assert_conditional_write_safe",
    "assert_conditional_write_safe_async",
    "check_target",
    "is_asgi_app",
]
