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

from .conditions import HeadersInput, Preconditions, read_fields
from .dates import modified_after, to_http_precision
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
from .tags import PROXY_SUFFIXES, is_version_etag, names_version_number, proxy_suffix

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
        last_modified: its modification date, or ``None``, at the precision it is known:
            If-Modified-Since and If-Unmodified-Since compare it as it is (a date inside a
            second is later than that second's HTTP-date; see ``modified_after``).
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
        read = read_fields(headers, policy.max_tags, policy.max_header_length, now)
    except InvalidPreconditionHeader as error:
        return BadPrecondition(error.header, error.reason)
    # The two shapes clients send most, decided by one comparison (``ReadFields``): the same
    # answers ``_evaluate`` gives, whose steps they skip. Anything else takes the full path.
    opaque = read.sole_if_match
    if opaque is not None:
        # Step 1, If-Match: "<tag>" alone: true when it is strongly the current tag; then
        # nothing else is evaluated and the write must enforce exactly that tag.
        current = resource.etag
        if (
            current is not None
            and current.opaque == opaque
            and not current.weak
            and resource.exists
            and read.proceed is not None
        ):
            return read.proceed
    elif read.sole_if_none_match is not None and not policy.accept_weak_echo:
        # Step 3, an If-None-Match list alone, compared weakly (§13.1.2).
        current = resource.etag
        if current is None or not resource.exists or current.opaque not in read.sole_if_none_match:
            if read.proceed is not None:
                return read.proceed
        elif method in CACHEABLE_READS:
            return _not_modified(resource, by_date=False)
    return _evaluate(method, read.preconditions, resource, policy)


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
    # Compared at the precision it is stored (see ``modified_after``), never truncated.
    last_modified = resource.last_modified
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
        if modified_after(last_modified, ius):
            return _modified(resource, last_modified, ius)
    else:
        ius = None

    # Step 3: "When If-None-Match is present, evaluate the If-None-Match precondition: if true,
    # continue to step 5; if false for GET/HEAD, respond 304 (Not Modified); if false for other
    # methods, respond 412 (Precondition Failed)."
    if if_none_match is not None:
        if not _if_none_match_passes(if_none_match, resource, policy):
            if method in CACHEABLE_READS:
                return _not_modified(resource, by_date=False)
            return _if_none_match_failed(if_none_match, resource)
    # Step 4: "When the method is GET or HEAD, If-None-Match is not present, and
    # If-Modified-Since is present, evaluate the If-Modified-Since precondition: if true,
    # continue to step 5; if false, respond 304 (Not Modified)."
    # §13.1.3: false when the "last modification date is earlier or equal to the date".
    elif (
        method in CACHEABLE_READS
        and preconditions.if_modified_since is not None
        and last_modified is not None
        and not modified_after(last_modified, preconditions.if_modified_since)
    ):
        return _not_modified(resource, by_date=True)

    # Step 5 (If-Range) concerns range requests, which ifmatch leaves to the framework.
    # Step 6: "Otherwise, perform the requested method and respond according to its success
    # or failure." The store re-checks the condition in the write itself.
    if if_match is None and if_none_match is None and ius is None:
        return PROCEED_WITH_WARNING if warnings else PROCEED
    if policy.accept_weak_echo and isinstance(if_none_match, tuple):
        if_none_match = _without_proxy_suffixes(if_none_match)
    return proceed_with(
        _effective_if_match(if_match, resource, policy), if_none_match, ius, warnings
    )


def _modified(
    resource: ResourceState, last_modified: datetime, ius: datetime
) -> PreconditionFailed:
    detail = "The resource was modified after the If-Unmodified-Since date."
    if not modified_after(to_http_precision(last_modified), ius):
        # Changed within the very second named: its date cannot tell the writes of that second
        # apart, so no date can name the current version until the next write.
        detail = (
            "The resource was modified more than once within the second of the "
            "If-Unmodified-Since date, and a date cannot tell those changes apart: re-read it "
            "and retry with If-Match and its entity-tag."
        )
    return PreconditionFailed("If-Unmodified-Since", "modified", detail, current_etag=resource.etag)


def _not_modified(resource: ResourceState, *, by_date: bool) -> NotModified:
    # RFC 9110 §15.4.5: a 304 MUST carry the ETag a 200 would, and "a sender SHOULD NOT
    # generate representation metadata other than the above listed fields unless said metadata
    # exists for the purpose of guiding cache updates (e.g., Last-Modified might be useful if
    # the response does not have an ETag field)". So Last-Modified goes on a 304 only when the
    # client validated by date (If-Modified-Since) or there is no tag to send.
    etag, last_modified = resource.etag, resource.last_modified
    if last_modified is None or (etag is not None and not by_date):
        return not_modified(etag, None)
    return not_modified(etag, to_http_precision(last_modified))


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
    # ifmatch's own version tags, which name a version rather than bytes: weakened by a
    # compressing proxy (nginx gzip, Django's GZipMiddleware), or suffixed by one (Apache's
    # mod_deflate "-gzip", mod_brotli "-br").
    if strong_match(tag, current):
        return True
    if not policy.accept_weak_echo or current.weak or not is_version_etag(current):
        return False
    if tag.weak and weak_match(tag, current):
        return True
    return _altered(tag, current)


def _altered(tag: ETag, current: ETag) -> bool:
    # The current tag with a compressing proxy's suffix. Only for a tag naming an integer
    # version, which never ends so itself ("v3-gzip" names no integer version), so the suffixed
    # tag cannot be another version's.
    return proxy_suffix(tag, current) is not None and names_version_number(current)


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
        for tag in if_match:
            if tag.opaque.endswith(PROXY_SUFFIXES) and proxy_suffix(tag, current):
                if policy.accept_weak_echo and _accepts(tag, current, policy):
                    return None
                return _altered_failed(tag, current)
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


def _altered_failed(tag: ETag, current: ETag) -> PreconditionFailed:
    suffix = proxy_suffix(tag, current)
    return PreconditionFailed(
        "If-Match",
        "altered-etag",
        f"If-Match carried {tag}, the current entity-tag {current} with the suffix "
        f"{suffix!r} a compressing proxy appends (Apache httpd's mod_deflate adds -gzip and "
        "mod_brotli -br unless told DeflateAlterETag / BrotliAlterETag NoChange). If-Match "
        "requires strong comparison (RFC 9110 §13.1.1), so the altered tag does not match: "
        "configure the proxy not to alter tags"
        + (
            ", send the tag without the suffix, or enable the server's accept-weak-echo option."
            if names_version_number(current)
            else ", or send the tag without the suffix."
        ),
        current_etag=current,
    )


def _effective_if_match(
    if_match: ETagList | None, resource: ResourceState, policy: Policy
) -> ETagList | None:
    # Reduce the list to the tags that can match, so the store checks exactly what passed here:
    # a weakened or suffixed echo the policy accepts becomes the current tag itself.
    if if_match is None or isinstance(if_match, Star):
        return if_match
    current = resource.etag
    if not policy.accept_weak_echo or current is None:
        for tag in if_match:
            if tag.weak:
                break
        else:
            return if_match
        return tuple(tag for tag in if_match if not tag.weak)
    return tuple(
        current if tag != current and _accepts(tag, current, policy) else tag
        for tag in if_match
        if not tag.weak or _accepts(tag, current, policy)
    )


def _if_none_match_passes(if_none_match: ETagList, resource: ResourceState, policy: Policy) -> bool:
    # §13.1.2: "If the field value is "*", the condition is false if the origin server has a
    # current representation for the target resource. If the field value is a list of
    # entity-tags, the condition is false if one of the listed tags matches the entity-tag of
    # the selected representation." And: "A recipient MUST use the weak comparison function".
    if isinstance(if_none_match, Star):
        return not resource.exists
    current = resource.etag
    if current is None or not resource.exists:
        return True
    if any(weak_match(tag, current) for tag in if_none_match):
        return False
    # The weak-echo policy: the current tag as a compressing proxy suffixed it is the current
    # version too (a 304 for the compressed copy the client holds).
    return not (
        policy.accept_weak_echo
        and not current.weak
        and is_version_etag(current)
        and any(_altered(tag, current) for tag in if_none_match)
    )


def _without_proxy_suffixes(tags: tuple[ETag, ...]) -> tuple[ETag, ...]:
    # Under the weak-echo policy "v2-gzip" in If-None-Match is version 2 as a proxy altered it:
    # the store must refuse the write while version 2 is current, as the header check did.
    found = tuple(_unaltered(tag) for tag in tags)
    return tags if found == tags else found


def _unaltered(tag: ETag) -> ETag:
    for suffix in PROXY_SUFFIXES:
        if tag.opaque.endswith(suffix):
            base = ETag(tag.opaque[: -len(suffix)], weak=tag.weak)
            if names_version_number(base):
                return base
    return tag


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
