"""Framework integrations, each imported by its own module path so that importing ifmatch loads
no web framework: ``ifmatch.integrations.flask``, ``ifmatch.integrations.fastapi``,
``ifmatch.integrations.starlette``, ``ifmatch.integrations.wsgi``, ``ifmatch.integrations.asgi``.
"""

from ._idempotency import Idempotency
from ._variants import named_variant

__all__ = ["Idempotency", "named_variant"]
