"""The ifmatch client: remembers validators, sends If-Match for you, merges and retries.

* :class:`Client` / :class:`AsyncClient`: httpx clients with the strategies as one call each
  (``save`` with ``on_conflict="raise" | "merge" | "overwrite"``, ``update`` to re-read and
  re-apply).
* :class:`IfMatchTransport` / :class:`AsyncIfMatchTransport`: the same flow around any httpx
  transport, for any ``httpx.Client``.
* ``ifmatch.client.requests_adapter``: the same flow for ``requests``.
* :class:`ConditionalRequests`: the sans-I/O flow all of them drive.
* ``merge`` (JSON), ``merge_text`` / ``diff3`` (lines), RFC 7396 / RFC 6902 patch helpers.

Needs ``pip install 'ifmatch[client]'``.
"""

from .bulk import BulkItemOutcome, BulkOutcome, BulkUpdateFailed, bulk_update_flow
from .cache import CachedResponse, ResponseCache
from .client import AsyncClient, Client
from .documents import Document
from .errors import (
    ClientError,
    ConflictError,
    CurrentRepresentation,
    MergeConflict,
    NoValidator,
    OutcomeUnknown,
    PreconditionFailed,
    PreconditionRequired,
    UnexpectedStatus,
    VersionConflict,
    conflict_from_response,
    current_representation,
    raise_for_conflict,
)
from .flow import ConditionalRequests, FlowConfig, has_precondition, precondition_headers
from .learning import LearningConfig
from .limiter import AsyncConflictLimiter, ConflictLimiter
from .merge import Conflict, Resolved, diff3, json_equal, merge, merge_text
from .messages import MISSING, LostReply, Request, Response, Sleep
from .patch import (
    JSON_PATCH_MEDIA_TYPE,
    MERGE_PATCH_MEDIA_TYPE,
    apply_json_patch,
    apply_merge_patch,
    json_patch,
    jsonapi_patch,
    merge_patch,
)
from .strategies import Backoff, read_flow, save_flow, update_flow, write_request
from .transport import AsyncIfMatchTransport, IfMatchTransport
from .validators import Validators, ValidatorStore, normalize_url, same_origin, same_url

__all__ = [
    "JSON_PATCH_MEDIA_TYPE",
    "MERGE_PATCH_MEDIA_TYPE",
    "MISSING",
    "AsyncClient",
    "AsyncConflictLimiter",
    "AsyncIfMatchTransport",
    "Backoff",
    "BulkItemOutcome",
    "BulkOutcome",
    "BulkUpdateFailed",
    "CachedResponse",
    "Client",
    "ClientError",
    "ConditionalRequests",
    "Conflict",
    "ConflictError",
    "ConflictLimiter",
    "CurrentRepresentation",
    "Document",
    "FlowConfig",
    "IfMatchTransport",
    "LearningConfig",
    "MergeConflict",
    "LostReply",
    "NoValidator",
    "OutcomeUnknown",
    "PreconditionFailed",
    "PreconditionRequired",
    "Request",
    "Resolved",
    "Response",
    "ResponseCache",
    "Sleep",
    "UnexpectedStatus",
    "ValidatorStore",
    "Validators",
    "VersionConflict",
    "apply_json_patch",
    "bulk_update_flow",
    "apply_merge_patch",
    "conflict_from_response",
    "current_representation",
    "diff3",
    "has_precondition",
    "json_equal",
    "json_patch",
    "jsonapi_patch",
    "merge",
    "merge_patch",
    "merge_text",
    "normalize_url",
    "precondition_headers",
    "raise_for_conflict",
    "read_flow",
    "same_origin",
    "same_url",
    "save_flow",
    "update_flow",
    "write_request",
]
