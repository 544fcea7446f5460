"""Framework integrations, each imported by its own module path so that importing ifmatch loads
no web framework: ``ifmatch.integrations.flask``, ``ifmatch.integrations.fastapi``,
``ifmatch.integrations.starlette``, ``ifmatch.integrations.wsgi``, ``ifmatch.integrations.asgi``.
"""

from ._idempotency import Idempotency

__all__ = ["Idempotency"]
