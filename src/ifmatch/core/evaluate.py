"""RFC 9110 §13.2.2: the order in which preconditions are evaluated. This is the only place it
lives; adapters call :func:`evaluate` and translate the decision, nothing more.

Theory of operation
-------------------
The adapter runs its usual checks first (authentication, permissions, 404): §13.2.1 says a
server "MUST ignore the conditional request header fields ... when the response would have been
other than a 2xx (Successful) or 412 (Precondition Failed)", so a 304 or 412 never reveals a
resource the caller may not see. It then reads the resource's current validators (cheaply: a
version column, not the body) and calls :func:`evaluate`. A ``Proceed`` decision carries a
``WriteCondition`` that the store enforces in the same statement as the write, which closes the
gap between this check and the write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .conditions import HeadersInput, Preconditions
from .dates import to_http_precision
from .decisions import (
    BadPrecondition,
    Decision,
    NotModified,
    PreconditionFailed,
    PreconditionRequired,
    Proceed,
    not_modified,
    proceed_with,
)
from .errors import InvalidPreconditionHeader
from .etag import ETag, ETagList, Star, UnquotedEntityTag, strong_match, weak_match
from .policy import DEFAULT_POLICY, Policy
from .tags import is_version_etag

__all__ = ["ResourceState", "evaluate", "evaluate_preconditions"]

# §13.2.1: "a server MUST ignore the conditional request header fields defined by this
# specification when received with a request method that does not involve the selection or
# modification of a selected representation, such as CONNECT, OPTIONS, or TRACE."
IGNORING_METHODS = frozenset({"CONNECT", "OPTIONS", "TRACE"})
# The methods whose false If-None-Match / If-Modified-Since means 304 rather than 412.
CACHEABLE_READS = frozenset({"GET", "HEAD"})
PROCEED = Proceed()
PROCEED_WITH_WARNING = Proceed(warnings=("precondition-required",))


@dataclass(frozen=True, slots=True)
class ResourceState:
    """What the server knows about the target resource right now.

    Attributes:
        etag: the selected representation's entity-tag, or ``None`` if it has none.
        last_modified: its modification date, or ``None``.
        exists: whether there is a current representation (False for a PUT that creates).
    """

    etag: ETag | None = None
    last_modified: datetime | None = None
    exists: bool = True


def evaluate(
    method: str,
    headers: HeadersInput,
    resource: ResourceState,
    policy: Policy = DEFAULT_POLICY,
    *,
    now: datetime | None = None,
) -> Decision:
    """Decide what to do with one request, given the resource's current state.

    Args:
        method: the request method.
        headers: the request's headers (a mapping or ``(name, value)`` pairs).
        resource: the current validators of the target resource.
        policy: what the resource demands (428 rules, weak echo, limits).
        now: the server's clock, used only to read two-digit RFC 850 years (default: the
            current time, read only for such a date).

    Returns:
        One of ``Proceed``, ``NotModified``, ``PreconditionFailed``, ``PreconditionRequired``,
        ``BadPrecondition``.

    >>> from ifmatch.core import ETag
    >>> evaluate("PUT", {"If-Match": '"v1"'}, ResourceState(ETag("v2"))).status
    412
    """
    method = method.upper()
    if method in IGNORING_METHODS:
        return PROCEED
    try:
        preconditions = Preconditions.from_headers(
            headers, max_tags=policy.max_tags, max_length=policy.max_header_length, now=now
        )
    except InvalidPreconditionHeader as error:
        return BadPrecondition(error.header, error.reason)
    return _evaluate(method, preconditions, resource, policy)


def evaluate_preconditions(
    method: str,
    preconditions: Preconditions,
    resource: ResourceState,
    policy: Policy = DEFAULT_POLICY,
) -> Decision:
    """Like :func:`evaluate`, for preconditions the caller has already parsed."""
    method = method.upper()
    if method in IGNORING_METHODS:
        return PROCEED
    return _evaluate(method, preconditions, resource, policy)


def _evaluate(
    method: str, preconditions: Preconditions, resource: ResourceState, policy: Policy
) -> Decision:
    last_modified = (
        None
        if resource.last_modified is None
        or (preconditions.if_modified_since is None and preconditions.if_unmodified_since is None)
        else to_http_precision(resource.last_modified)
    )
    warnings: tuple[str, ...] = ()
    if_match = preconditions.if_match
    if_none_match = preconditions.if_none_match
    if preconditions.bare_token_fields:
        refused = _refuse_bare_token(preconditions, resource, policy)
        if refused is not None:
            return refused
        if "If-Match" in preconditions.bare_token_fields and not _is_current_version_token(
            if_match, resource
        ):
            # A malformed If-Match is false (or a 400). A lone token is what a client holding
            # a stale copy of a list item sends: false, so that it re-reads and retries.
            if_match = ()
    if (
        if_match is None
        and if_none_match is None
        and method in policy.require_precondition
        and not _is_conditional(preconditions, last_modified, policy)
    ):
        # RFC 6585 §3: "The 428 status code indicates that the origin server requires the
        # request to be conditional."
        if not policy.warn_only:
            return PreconditionRequired(
                method,
                f"{method} requires a precondition: send If-Match with the entity-tag of the "
                "representation you read (or If-None-Match: * to create only).",
                current_etag=resource.etag,
            )
        warnings = ("precondition-required",)

    ius = preconditions.if_unmodified_since
    # Step 1: "When recipient is the origin server and If-Match is present, evaluate the
    # If-Match precondition: if true, continue to step 3; if false, respond 412 (Precondition
    # Failed) unless it can be determined that the state-changing request has already
    # succeeded."
    if if_match is not None:
        failed = _check_if_match(if_match, resource, policy)
        if failed is not None:
            return failed
        ius = None
    # Step 2: "When recipient is the origin server, If-Match is not present, and
    # If-Unmodified-Since is present, evaluate the If-Unmodified-Since precondition: if true,
    # continue to step 3; if false, respond 412 (Precondition Failed) ..."
    # §13.1.4: a recipient MUST ignore it "if the resource does not have a modification date
    # available", and it is true when the date is not more recent than the field value.
    elif ius is not None and last_modified is not None:
        if last_modified > ius:
            return PreconditionFailed(
                "If-Unmodified-Since",
                "modified",
                "The resource was modified after the If-Unmodified-Since date.",
                current_etag=resource.etag,
            )
    else:
        ius = None

    # Step 3: "When If-None-Match is present, evaluate the If-None-Match precondition: if true,
    # continue to step 5; if false for GET/HEAD, respond 304 (Not Modified); if false for other
    # methods, respond 412 (Precondition Failed)."
    if if_none_match is not None:
        if not _if_none_match_passes(if_none_match, resource):
            if method in CACHEABLE_READS:
                return _not_modified(resource)
            return _if_none_match_failed(if_none_match, resource)
    # Step 4: "When the method is GET or HEAD, If-None-Match is not present, and
    # If-Modified-Since is present, evaluate the If-Modified-Since precondition: if true,
    # continue to step 5; if false, respond 304 (Not Modified)."
    # §13.1.3: false when the "last modification date is earlier or equal to the date".
    elif (
        method in CACHEABLE_READS
        and preconditions.if_modified_since is not None
        and last_modified is not None
        and last_modified <= preconditions.if_modified_since
    ):
        return _not_modified(resource)

    # Step 5 (If-Range) concerns range requests, which ifmatch leaves to the framework.
    # Step 6: "Otherwise, perform the requested method and respond according to its success
    # or failure." The store re-checks the condition in the write itself.
    if if_match is None and if_none_match is None and ius is None:
        return PROCEED_WITH_WARNING if warnings else PROCEED
    return proceed_with(
        _effective_if_match(if_match, resource, policy), if_none_match, ius, warnings
    )


def _not_modified(resource: ResourceState) -> NotModified:
    last_modified = resource.last_modified
    return not_modified(
        resource.etag, None if last_modified is None else to_http_precision(last_modified)
    )


def _is_conditional(
    preconditions: Preconditions, last_modified: datetime | None, policy: Policy
) -> bool:
    if preconditions.if_match is not None or preconditions.if_none_match is not None:
        return True
    # An If-Unmodified-Since the server must ignore (bad date, no Last-Modified) protects
    # nothing, so it never satisfies the requirement.
    return (
        policy.unmodified_since_counts
        and preconditions.if_unmodified_since is not None
        and last_modified is not None
    )


def _is_current_version_token(tags: ETagList | None, resource: ResourceState) -> bool:
    # The one shape outside the entity-tag grammar that is accepted: a field that is exactly
    # one unquoted token equal to the opaque-tag of the current (strong) version tag.
    current = resource.etag
    return (
        isinstance(tags, tuple)
        and len(tags) == 1
        and resource.exists
        and current is not None
        and not current.weak
        and tags[0].opaque == current.opaque
        and is_version_etag(current)
    )


def _refuse_bare_token(
    preconditions: Preconditions, resource: ResourceState, policy: Policy
) -> BadPrecondition | None:
    # §8.8.3: opaque-tag = DQUOTE *etagc DQUOTE; a lone unquoted token is malformed. It is
    # read only under the policy's documented leniency; in If-None-Match only as the current
    # version tag (anything else there would let a write or a 200 through on a bad header).
    for header, tags in (
        ("If-Match", preconditions.if_match),
        ("If-None-Match", preconditions.if_none_match),
    ):
        if header not in preconditions.bare_token_fields or not isinstance(tags, tuple):
            continue
        if not policy.accept_bare_version_token or (
            header == "If-None-Match" and not _is_current_version_token(tags, resource)
        ):
            error = UnquotedEntityTag(header, tags[0].opaque)
            return BadPrecondition(error.header, error.reason)
    return None


def _accepts(tag: ETag, current: ETag, policy: Policy) -> bool:
    # §13.1.1: "An origin server MUST use the strong comparison function when comparing
    # entity-tags for If-Match". The weak-echo policy is a documented, opt-in exception for
    # ifmatch's own version tags, which name a version rather than bytes.
    if strong_match(tag, current):
        return True
    return (
        policy.accept_weak_echo
        and tag.weak
        and not current.weak
        and is_version_etag(current)
        and weak_match(tag, current)
    )


def _check_if_match(
    if_match: ETagList, resource: ResourceState, policy: Policy
) -> PreconditionFailed | None:
    # §13.1.1: "If the field value is "*", the condition is false if the origin server does
    # not have a current representation for the target resource."
    if isinstance(if_match, Star):
        if resource.exists:
            return None
        return PreconditionFailed(
            "If-Match", "not-found", "If-Match: * requires the resource to exist; it does not."
        )
    # "If the field value is a list of entity-tags, the condition is true if any of the listed
    # tags match the entity-tag of the selected representation."
    current = resource.etag
    if current is not None and resource.exists:
        for tag in if_match:
            if tag.opaque == current.opaque and (
                (not tag.weak and not current.weak) or _accepts(tag, current, policy)
            ):
                return None
        if any(tag.weak and weak_match(tag, current) for tag in if_match):
            return PreconditionFailed(
                "If-Match",
                "weak-etag",
                f'If-Match carried the weak tag W/"{current.opaque}", which matches the '
                "current representation only weakly; If-Match requires strong comparison "
                "(RFC 9110 §13.1.1). A proxy that compresses responses (nginx gzip, Django's "
                "GZipMiddleware) may have weakened the tag: send the strong form, or enable "
                "the server's accept-weak-echo option.",
                current_etag=current,
            )
    return PreconditionFailed(
        "If-Match",
        "etag-mismatch" if resource.exists else "not-found",
        "The resource has changed since you read it: re-read it, re-apply your change and "
        "retry with the new entity-tag."
        if resource.exists
        else "If-Match names a representation, but the resource does not exist.",
        current_etag=current if resource.exists else None,
    )


def _effective_if_match(
    if_match: ETagList | None, resource: ResourceState, policy: Policy
) -> ETagList | None:
    # Reduce the list to the tags that can match, so the store checks exactly what passed here.
    if if_match is None or isinstance(if_match, Star):
        return if_match
    for tag in if_match:
        if tag.weak:
            break
    else:
        return if_match
    current = resource.etag
    if current is None:
        return tuple(tag for tag in if_match if not tag.weak)
    return tuple(
        tag.as_strong() if _accepts(tag, current, policy) else tag
        for tag in if_match
        if not tag.weak or _accepts(tag, current, policy)
    )


def _if_none_match_passes(if_none_match: ETagList, resource: ResourceState) -> bool:
    # §13.1.2: "If the field value is "*", the condition is false if the origin server has a
    # current representation for the target resource. If the field value is a list of
    # entity-tags, the condition is false if one of the listed tags matches the entity-tag of
    # the selected representation." And: "A recipient MUST use the weak comparison function".
    if isinstance(if_none_match, Star):
        return not resource.exists
    current = resource.etag
    if current is None or not resource.exists:
        return True
    return not any(weak_match(tag, current) for tag in if_none_match)


def _if_none_match_failed(if_none_match: ETagList, resource: ResourceState) -> PreconditionFailed:
    if isinstance(if_none_match, Star):
        return PreconditionFailed(
            "If-None-Match",
            "exists",
            "If-None-Match: * asks to create the resource only if it does not exist; it exists.",
            current_etag=resource.etag,
        )
    return PreconditionFailed(
        "If-None-Match",
        "etag-matches",
        "If-None-Match names the current entity-tag, so the request was not performed.",
        current_etag=resource.etag,
    )
