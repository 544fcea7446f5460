"""The conflict strategies as sans-I/O flows: read, re-read and re-apply, merge, overwrite.

Each flow is a generator yielding :class:`~ifmatch.client.messages.Request` (send it, send me
the response) or :class:`~ifmatch.client.messages.Sleep` (pause, send me ``None``), and
returning a :class:`~ifmatch.client.documents.Document`. ``Client`` and ``AsyncClient`` drive
the same flows; tests step them by hand.

Writes carry the validators of the read they are based on, explicitly, never "the newest tag
the client has seen": another thread's read of the same URL must not make this write
unconditional in effect.

**Exactly once.** Every write carries an ``Idempotency-Key``, new for each logical write (each
re-application after a conflict is a new write). When its reply is lost (the driver sends a
:class:`~ifmatch.client.messages.LostReply`) or the answer is a 500/502/503/504, whose outcome
is unknown, the flow sends the *same* request again, key included, instead of re-reading and
re-applying: a server that honours the key answers a write that committed with its first
answer, and judges one that did not as new. A conflict answer to such a resend counts as "not
applied" only when the server sent the key back (it honoured it); otherwise the flow raises
:class:`~ifmatch.client.errors.OutcomeUnknown` rather than apply the change a second time.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from ..core.idempotency import IDEMPOTENCY_KEY, format_idempotency_key, parse_idempotency_key
from .documents import Document
from .errors import (
    CONFLICT_STATUSES,
    ConflictError,
    MergeConflict,
    NoValidator,
    OutcomeUnknown,
    UnexpectedStatus,
    conflict_from_response,
    current_representation,
    problem_body,
)
from .flow import precondition_headers
from .learning import DEFAULT_LEARNING, LearningConfig
from .merge import merge
from .messages import LostReply, Request, Response, Sleep
from .patch import (
    JSON_PATCH_MEDIA_TYPE,
    JSONAPI_MEDIA_TYPE,
    MERGE_PATCH_MEDIA_TYPE,
    PatchFormat,
    json_patch,
    jsonapi_patch,
    merge_patch,
)

__all__ = [
    "Backoff",
    "OnConflict",
    "Resolver",
    "StrategyFlow",
    "read_flow",
    "save_flow",
    "update_flow",
    "write_request",
]

JSON_ACCEPT = "application/hal+json, application/json;q=0.9, */*;q=0.1"
#: Conflicts that a re-read can cure: 412 (stale If-Match) and 409 (stale body version).
RETRYABLE = frozenset({409, 412})

StrategyFlow = Generator[Request | Sleep, Response | LostReply | None, Document]
#: Statuses after which a write's outcome is unknown: the server (or a proxy in front of it)
#: failed, possibly after the write committed.
UNKNOWN_OUTCOME = frozenset({500, 502, 503, 504})
#: How many times a write whose outcome is unknown is sent again before giving up.
RESOLVE_ATTEMPTS = 6
#: How many times a read is sent in all when its reply is lost or the server is unavailable.
READ_ATTEMPTS = 4
#: Statuses after which a read is sent again.
RETRIED_READS = frozenset({502, 503, 504})
Resolver = Callable[[Any, Any, Any], Any]
OnConflict = Literal["raise", "merge", "overwrite"] | Resolver


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits a uniform random time in
    ``[0, min(cap, max(base, took) * factor ** (n - 1))]`` seconds, so writers that lost
    together spread out instead of colliding again.

    ``took`` is how long the attempt that lost took (its read and its refused write, as
    :func:`update_flow` and :func:`save_flow` measure it). Writers that collide can only take
    turns if their waits spread over about as many rounds as there are writers; a window that
    starts at one round and doubles per loss gets there without anything shared between them
    (writers in separate processes share no limiter), where a fixed ``base`` far below a busy
    server's round would leave them colliding again. ``cap`` bounds every wait.
    """

    base: float = 0.01
    factor: float = 2.0
    cap: float = 1.0

    def delay(self, attempt: int, rng: random.Random, *, took: float = 0.0) -> float:
        """The wait before attempt ``attempt + 1``, after an attempt that took ``took``
        seconds."""
        start = max(self.base, took)
        return rng.uniform(0.0, min(self.cap, start * self.factor ** (attempt - 1)))


def _get(url: str, headers: tuple[tuple[str, str], ...]) -> Request:
    return Request("GET", url, (("Accept", JSON_ACCEPT), *headers), b"")


def _read(request: Request) -> Generator[Request | Sleep, Response | LostReply | None, Response]:
    """Send a GET; a lost reply or a 502/503/504 is sent again (a read is safe to repeat), a
    few times, after ``Retry-After`` or a short backoff."""
    received: Response | LostReply | None = None
    rng = random.Random()
    for attempt in range(1, READ_ATTEMPTS + 1):
        received = yield request
        if isinstance(received, Response) and received.status not in RETRIED_READS:
            return received
        if attempt < READ_ATTEMPTS:
            yield Sleep(_wait(received, Backoff(base=0.05), attempt, rng))
    if isinstance(received, Response):
        return received  # still failing: the caller reports the status
    raise OutcomeUnknown(method="GET", url=request.url, key=None, reason=_reason(received))


def read_flow(
    url: str,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    learning: LearningConfig = DEFAULT_LEARNING,
) -> StrategyFlow:
    """GET ``url`` as a :class:`Document`.

    A weak tag without a Last-Modified cannot make a write conditional, so the read is
    repeated asking for the identity coding, whose tag a compressing proxy leaves strong.

    Raises:
        UnexpectedStatus: the GET did not answer 2xx.
    """
    response = yield from _read(_get(url, headers))
    document = _document(url, response, "GET", learning)
    if document.etag is not None and document.etag.weak and document.last_modified is None:
        response = yield from _read(_get(url, (*headers, ("Accept-Encoding", "identity"))))
        document = _document(url, response, "GET", learning)
    return document


def new_key() -> str:
    """A new ``Idempotency-Key`` for one logical write."""
    return str(uuid.uuid4())


def settled(
    request: Request, backoff: Backoff, rng: random.Random
) -> Generator[Request | Sleep, Response | LostReply | None, Response]:
    """Send a write and settle its outcome: while the reply is lost or the answer says the
    outcome is unknown (500, 502, 503, 504; a 409 for the key still in flight), wait and send
    the same request again, key and all.

    Raises:
        OutcomeUnknown: still unknown after :data:`RESOLVE_ATTEMPTS`, or a conflict answered a
            resend without the key sent back (the server may have applied the first one).
    """
    received = yield request
    resent = False
    for attempt in range(1, RESOLVE_ATTEMPTS + 1):
        if not _unknown(received):
            break
        yield Sleep(_wait(received, backoff, attempt, rng))
        received = yield request
        resent = True
    if _unknown(received):
        raise OutcomeUnknown(
            method=request.method, url=request.url, key=_key(request), reason=_reason(received)
        )
    assert isinstance(received, Response)
    if resent and not received.ok and not _honoured(request, received):
        # Without the key honoured, a 412 to the resend may be the first send's own success.
        raise OutcomeUnknown(
            method=request.method,
            url=request.url,
            key=_key(request),
            reason=f"{received.status} to a resend, and the server did not honour the key",
        )
    return received


def _unknown(received: Response | LostReply | None) -> bool:
    if isinstance(received, LostReply):
        return True
    assert received is not None
    if received.status in UNKNOWN_OUTCOME:
        return True
    problem = problem_body(received) if received.status == 409 else None
    return problem is not None and problem.get("code") == "idempotency-key-in-flight"


def _wait(
    received: Response | LostReply | None, backoff: Backoff, attempt: int, rng: random.Random
) -> float:
    if isinstance(received, Response):
        after = received.header("Retry-After")
        if after is not None and after.strip().isdigit():
            return min(float(after), 30.0)
    return Backoff(base=max(backoff.base, 0.05), cap=max(backoff.cap, 2.0)).delay(attempt, rng)


def _reason(received: Response | LostReply | None) -> str:
    if isinstance(received, LostReply):
        return received.reason
    assert received is not None
    return f"{received.status}"


def _key(request: Request) -> str | None:
    value = request.header(IDEMPOTENCY_KEY)
    return None if value is None else parse_idempotency_key(value)


def _honoured(request: Request, response: Response) -> bool:
    """Whether the server sent the request's key back: it judged the request with it."""
    sent, echoed = request.header(IDEMPOTENCY_KEY), response.header(IDEMPOTENCY_KEY)
    if sent is None or echoed is None:
        return False
    try:
        return parse_idempotency_key(echoed) == parse_idempotency_key(sent)
    except ValueError:
        return False


def _document(
    url: str, response: Response | LostReply | None, method: str, learning: LearningConfig
) -> Document:
    assert isinstance(response, Response)
    if not response.ok:
        raise UnexpectedStatus(
            response.status, method=method, url=url, problem=problem_body(response)
        )
    # After redirects the representation and its tag are those of the URL that answered: the
    # document is that URL's, so a write based on it goes there, never to the URL first asked.
    return Document.from_response(response.url or url, response, learning)


def write_request(
    base: Document,
    data: Any,
    *,
    patch: PatchFormat | None = None,
    overwrite: bool = False,
    require_validator: bool = True,
    key: str | None = None,
) -> Request:
    """The conditional write that turns ``base`` into ``data``.

    Args:
        base: the document the change is based on; its validators become the precondition.
        data: the whole new document.
        patch: ``None`` for a PUT of ``data``; ``"merge"`` or ``"json"`` for a PATCH with an
            RFC 7396 merge patch or an RFC 6902 JSON Patch from ``base.data`` to ``data``;
            ``"jsonapi"`` for a PATCH of a JSON:API resource object holding the attributes and
            relationships that changed (``application/vnd.api+json``).
        overwrite: send ``If-Match: *`` instead ("any current representation": the last
            writer wins, which must be asked for explicitly).
        require_validator: refuse to build an unconditional write.
        key: the write's ``Idempotency-Key`` (``None``: none).

    Raises:
        NoValidator: ``base`` has no strong tag and no Last-Modified (and
            ``require_validator``).
        ValueError: ``patch="merge"`` and ``data`` sets a member to null.
    """
    if overwrite:
        headers: tuple[tuple[str, str], ...] = (("If-Match", "*"),)
    else:
        headers = precondition_headers(base.validators)
        if not headers and require_validator:
            raise NoValidator(
                f"{base.url} came with no strong ETag and no Last-Modified; a write cannot be "
                "made conditional (pass require_validator=False if the server checks a version "
                "in the body)"
            )
    accept = JSON_ACCEPT
    if patch is None:
        method, media_type, body = "PUT", "application/json", data
    elif patch == "merge":
        method, media_type, body = "PATCH", MERGE_PATCH_MEDIA_TYPE, merge_patch(base.data, data)
    elif patch == "jsonapi":
        method, media_type, body = "PATCH", JSONAPI_MEDIA_TYPE, jsonapi_patch(base.data, data)
        accept = JSONAPI_MEDIA_TYPE
    else:
        method, media_type, body = "PATCH", JSON_PATCH_MEDIA_TYPE, json_patch(base.data, data)
    content = json.dumps(body, separators=(",", ":")).encode()
    if key is not None:
        headers = (*headers, (IDEMPOTENCY_KEY, format_idempotency_key(key)))
    return Request(
        method,
        base.self_url,
        (("Accept", accept), ("Content-Type", media_type), *headers),
        content,
    )


def _written(base: Document, data: Any, response: Response, learning: LearningConfig) -> Document:
    """The document after a successful write: the response's representation if it sent one,
    else what was written, with the response's validators."""
    sent = Document.from_response(base.self_url, response, learning)
    return Document(
        base.self_url, data if sent.data is None else sent.data, sent.etag, sent.last_modified
    )


def _conflict(request: Request, response: Response | LostReply | None) -> ConflictError | None:
    """``None`` on success; the typed error on 409/412/428.

    Raises:
        UnexpectedStatus: any other non-2xx status.
    """
    assert isinstance(response, Response)
    if response.ok:
        return None
    if response.status in CONFLICT_STATUSES:
        return conflict_from_response(response, method=request.method, url=request.url)
    raise UnexpectedStatus(
        response.status, method=request.method, url=request.url, problem=problem_body(response)
    )


def _current(request: Request, response: Response | LostReply | None) -> Document | None:
    """The server's current document, if the refused write's response carried it in a form
    that may be the base of a retry (``errors.current_representation``); else ``None``, and
    the caller re-reads. Never the error body itself."""
    assert isinstance(response, Response)
    found = current_representation(response)
    return None if found is None else Document(request.url, found.data, found.etag)


def _apply(fn: Callable[[Any], Any], data: Any) -> Any:
    draft = copy.deepcopy(data)
    result = fn(draft)
    return draft if result is None else result


def update_flow(
    url: str,
    fn: Callable[[Any], Any],
    *,
    retries: int = 5,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    patch: PatchFormat | None = None,
    require_validator: bool = True,
    learning: LearningConfig = DEFAULT_LEARNING,
) -> StrategyFlow:
    """Re-read and re-apply: GET, apply ``fn``, write conditionally; on 412 (or 409) wait,
    re-read and re-apply, at most ``retries`` more times.

    Args:
        url: the resource.
        fn: takes a copy of the current document and returns the new one (or edits the copy
            in place and returns ``None``). It may run several times; keep it free of other
            side effects.
        retries: how many times to retry after a conflict.
        backoff: the wait between attempts.
        rng: the source of jitter.
        patch: send a PATCH (``"merge"`` / ``"json"`` / ``"jsonapi"``) instead of a PUT.
        require_validator: see :func:`write_request`.

    Raises:
        PreconditionFailed | VersionConflict: still conflicting after ``retries`` retries
            (``attempts`` says how many writes were made).
        PreconditionRequired: the server wanted a precondition the read gave none for.
        UnexpectedStatus: the read or the write failed otherwise.
    """
    backoff = backoff or Backoff()
    rng = rng or random.Random()
    started = time.monotonic()
    document = yield from read_flow(url, learning=learning)
    attempt = 0
    while True:
        attempt += 1
        data = _apply(fn, document.data)
        request = write_request(
            document, data, patch=patch, require_validator=require_validator, key=new_key()
        )
        response = yield from settled(request, backoff, rng)
        error = _conflict(request, response)
        if error is None:
            return _written(document, data, response, learning)
        if error.status not in RETRYABLE or attempt > retries:
            error.attempts = attempt
            raise error
        yield Sleep(backoff.delay(attempt, rng, took=time.monotonic() - started))
        started = time.monotonic()
        current = _current(request, response)
        document = current or (yield from read_flow(url, learning=learning))


def save_flow(
    base: Document,
    data: Any,
    *,
    on_conflict: OnConflict = "raise",
    retries: int = 3,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    patch: PatchFormat | None = None,
    require_validator: bool = True,
    learning: LearningConfig = DEFAULT_LEARNING,
) -> StrategyFlow:
    """Write ``data`` as the new version of ``base``, resolving conflicts as asked.

    Args:
        base: the document as read; its validators make the write conditional.
        data: the whole document as you want it.
        on_conflict: ``"raise"`` the typed error; ``"merge"`` three-way merge your change
            into the current document and retry; ``"overwrite"`` write with ``If-Match: *``
            (last writer wins); or a function ``(base, mine, theirs) -> merged``.
        retries: merges tried before giving up.

    Raises:
        PreconditionFailed | VersionConflict | PreconditionRequired: the write was refused
            and the strategy could not (or was not asked to) resolve it.
        MergeConflict: both sides changed the same place (``current`` holds the server's
            document, whose tag a resolved write must carry).
        UnexpectedStatus: another error status.
    """
    backoff = backoff or Backoff()
    rng = rng or random.Random()
    if on_conflict == "overwrite":
        request = write_request(base, data, patch=patch, overwrite=True, key=new_key())
        response = yield from settled(request, backoff, rng)
        error = _conflict(request, response)
        if error is not None:
            raise error
        return _written(base, data, response, learning)
    resolve: Resolver | None = merge if on_conflict == "merge" else None
    if callable(on_conflict):
        resolve = on_conflict
    attempt = 0
    while True:
        attempt += 1
        started = time.monotonic()
        request = write_request(
            base, data, patch=patch, require_validator=require_validator, key=new_key()
        )
        response = yield from settled(request, backoff, rng)
        error = _conflict(request, response)
        if error is None:
            return _written(base, data, response, learning)
        if resolve is None or error.status not in RETRYABLE or attempt > retries:
            error.attempts = attempt
            raise error
        theirs = _current(request, response)
        if theirs is None:
            yield Sleep(backoff.delay(attempt, rng, took=time.monotonic() - started))
            theirs = yield from read_flow(base.url, learning=learning)
        try:
            data = resolve(base.data, data, theirs.data)
        except MergeConflict as conflict:
            conflict.current = theirs
            raise
        base = theirs
