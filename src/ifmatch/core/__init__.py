"""The sans-I/O core: entity-tags, HTTP dates, and RFC 9110 §13.2.2 precondition evaluation.

Pure functions over plain values. No framework, no database, no clock, no I/O.
"""

from .conditions import HeadersInput, Preconditions, join_header_lines
from .dates import format_http_date, parse_http_date, to_http_precision
from .decisions import (
    BadPrecondition,
    Decision,
    NotModified,
    PreconditionFailed,
    PreconditionRequired,
    Proceed,
    WriteCondition,
)
from .errors import (
    ConfigurationError,
    IfMatchError,
    InvalidPreconditionHeader,
    PreconditionFailedError,
    VersionConflictError,
)
from .etag import (
    ANY,
    ETag,
    ETagList,
    Star,
    UnquotedEntityTag,
    format_etag_list,
    parse_etag,
    parse_etag_list,
    strong_match,
    weak_match,
)
from .evaluate import ResourceState, evaluate, evaluate_preconditions
from .policy import DEFAULT_POLICY, Policy
from .problems import (
    JSONAPI_MEDIA_TYPE,
    PROBLEM_MEDIA_TYPE,
    decision_problem,
    jsonapi_errors,
    problem,
)
from .tags import (
    content_etag,
    is_version_etag,
    version_etag,
    version_from_etag,
    version_number,
)

__all__ = [
    "ANY",
    "DEFAULT_POLICY",
    "JSONAPI_MEDIA_TYPE",
    "PROBLEM_MEDIA_TYPE",
    "BadPrecondition",
    "ConfigurationError",
    "Decision",
    "ETag",
    "ETagList",
    "HeadersInput",
    "IfMatchError",
    "InvalidPreconditionHeader",
    "NotModified",
    "Policy",
    "PreconditionFailed",
    "PreconditionFailedError",
    "PreconditionRequired",
    "Preconditions",
    "Proceed",
    "ResourceState",
    "Star",
    "UnquotedEntityTag",
    "VersionConflictError",
    "WriteCondition",
    "content_etag",
    "decision_problem",
    "evaluate",
    "evaluate_preconditions",
    "format_etag_list",
    "format_http_date",
    "is_version_etag",
    "join_header_lines",
    "jsonapi_errors",
    "parse_etag",
    "parse_etag_list",
    "parse_http_date",
    "problem",
    "strong_match",
    "to_http_precision",
    "version_etag",
    "version_from_etag",
    "version_number",
    "weak_match",
]
