"""Bulk conditional writes from the client: read each item, apply your function, send one
batch, and retry only the items that lost (see ``docs/bulk.md`` for the wire format)::

    with Client("https://api.example") as client:
        outcome = client.bulk_update(
            "/documents:batchUpdate",
            {7: add_tag, 8: add_tag, 9: rename},
        )
        outcome.documents[7].etag          # each item's new tag, remembered for later writes

Each item is read (``GET``, so its tag is the one its data came from), your function gets a
copy of its data and returns the new data (or edits the copy and returns ``None``), and the
members that changed are sent with the item's ``ifMatch``. An item refused with 412 or 409 is
read again and your function applied again to the fresh data; with ``atomic=True`` the whole
batch is then sent again (nothing was applied), else only the items that lost. Waits between
rounds back off with jitter; after ``retries`` more rounds :class:`BulkUpdateFailed` says which
items applied and which did not.

A batch is never sent twice: when its reply is lost (or the server answers 5xx) the outcome is
unknown and :class:`~ifmatch.client.errors.OutcomeUnknown` is raised, since an item applied by
the first send would be refused (412) on the second and then re-applied by your function.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Generator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..core.bulk import BULK_MEDIA_TYPE
from ..core.etag import parse_etag
from .documents import Document
from .errors import ClientError, NoValidator, OutcomeUnknown, UnexpectedStatus, problem_body
from .learning import DEFAULT_LEARNING, LearningConfig
from .messages import LostReply, Request, Response, Sleep
from .strategies import Backoff, read_flow

__all__ = [
    "BATCH_SUFFIX",
    "BulkFlow",
    "BulkItemOutcome",
    "BulkOutcome",
    "BulkUpdateFailed",
    "bulk_update_flow",
    "changed_members",
    "default_item_url",
]

#: The suffix of a batch URL on the collection's (AIP-136 custom method form).
BATCH_SUFFIX = ":batchUpdate"
#: Item statuses a re-read can cure: the item changed since it was read (or, 424, another
#: item of an atomic batch did).
RETRIED = frozenset({409, 412, 424})

BulkFlow = Generator[Request | Sleep, Response | LostReply | None, "BulkOutcome"]
Change = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class BulkItemOutcome:
    """What became of one item.

    Attributes:
        id: the item's id.
        status: its last status: 200 applied, ``None`` left alone (your function changed
            nothing), else the status of its last refusal.
        document: after 200, the item as written, with its new tag; else ``None``.
        problem: the problem object of its last refusal, if any.
        attempts: how many batches carried it.
    """

    id: Hashable
    status: int | None
    document: Document | None = None
    problem: dict[str, Any] | None = None
    attempts: int = 0

    @property
    def applied(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """Every item's outcome, in the order given, and how many batches were sent.

    Attributes:
        items: per item id.
        batches: how many batch requests were sent.
    """

    items: dict[Hashable, BulkItemOutcome] = field(default_factory=dict)
    batches: int = 0

    @property
    def documents(self) -> dict[Hashable, Document]:
        """The items that applied, as written."""
        return {
            key: item.document
            for key, item in self.items.items()
            if item.applied and item.document is not None
        }

    @property
    def failed(self) -> dict[Hashable, BulkItemOutcome]:
        """The items that did not apply (left-alone items are not failures)."""
        return {
            key: item
            for key, item in self.items.items()
            if not item.applied and item.status is not None
        }


class BulkUpdateFailed(ClientError):
    """Some items did not apply: refused for good (400, 403, 404, 428), or still conflicting
    after every retry. ``outcome`` tells which applied and which did not.

    Attributes:
        outcome: every item's outcome.
    """

    def __init__(self, outcome: BulkOutcome) -> None:
        failed = outcome.failed
        shown = ", ".join(f"{key!r}: {item.status}" for key, item in list(failed.items())[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        super().__init__(
            f"{len(failed)} of {len(outcome.items)} items did not apply ({shown}{more}); "
            f"{len(outcome.documents)} applied"
        )
        self.outcome = outcome


def default_item_url(batch_url: str) -> Callable[[Hashable], str]:
    """Item URLs from a batch URL: ``/docs:batchUpdate`` -> ``/docs/7``, and
    ``/docs:batchUpdate/`` -> ``/docs/7/`` (the trailing-slash style is kept).

    Raises:
        ValueError: the URL's path does not end with ``:batchUpdate`` (pass ``item_url=``).
    """
    parts = urlsplit(batch_url)
    path = parts.path
    slash = path.endswith("/")
    stem = path[:-1] if slash else path
    if not stem.endswith(BATCH_SUFFIX):
        raise ValueError(
            f"{batch_url} does not end with {BATCH_SUFFIX}: pass item_url= to say where items are"
        )
    collection = stem[: -len(BATCH_SUFFIX)].rstrip("/")

    def locate(key: Hashable) -> str:
        item = f"{collection}/{quote(str(key), safe='')}" + ("/" if slash else "")
        return urlunsplit((parts.scheme, parts.netloc, item, "", ""))

    return locate


def changed_members(old: Any, new: Any) -> dict[str, Any]:
    """The top-level members of ``new`` that differ from ``old`` (what a bulk item sends).

    Raises:
        ValueError: either is not a JSON object, or ``new`` drops a member (a bulk item sets
            members; it cannot remove one).
    """
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        raise ValueError("a bulk update changes JSON objects: the item or your result is not one")
    dropped = sorted(str(name) for name in old if name not in new)
    if dropped:
        raise ValueError(f"a bulk item cannot remove members: {dropped[0]!r} was dropped")
    return {name: value for name, value in new.items() if name not in old or old[name] != value}


def bulk_update_flow(
    batch_url: str,
    changes: Mapping[Hashable, Change],
    *,
    atomic: bool = False,
    retries: int = 5,
    item_url: Callable[[Hashable], str] | None = None,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    learning: LearningConfig = DEFAULT_LEARNING,
) -> BulkFlow:
    """The sans-I/O bulk update: read, apply, send one batch, retry what lost.

    Args:
        batch_url: the batch URL (absolute).
        changes: item id -> a function taking a copy of the item's data and returning the new
            data (or editing the copy in place and returning ``None``). It may run several
            times; keep it free of other side effects.
        atomic: all-or-nothing batches; else each item applies on its own.
        retries: how many more rounds after the first.
        item_url: where each item is read (default: :func:`default_item_url`).
        backoff: the wait between rounds.
        rng: the source of jitter.
        learning: where validators are found in responses.

    Returns:
        Every item's outcome (each applied item with its new tag).

    Raises:
        BulkUpdateFailed: an item was refused for good, or still conflicting after
            ``retries`` more rounds (with ``atomic``, nothing applied).
        NoValidator: an item was read without a strong entity-tag.
        OutcomeUnknown: a batch's reply was lost, or the server answered 5xx.
        UnexpectedStatus: a read failed, or the server refused the batch as a whole.
    """
    backoff = backoff or Backoff()
    rng = rng or random.Random()
    locate = item_url or default_item_url(batch_url)
    outcomes: dict[Hashable, BulkItemOutcome] = {key: BulkItemOutcome(key, None) for key in changes}
    documents: dict[Hashable, Document] = {}
    pending = list(changes)
    for key in pending:
        documents[key] = yield from read_flow(locate(key), learning=learning)
    batches = 0
    while True:
        sent: list[tuple[Hashable, Any]] = []
        items: list[dict[str, Any]] = []
        for key in pending:
            document = documents[key]
            data = _apply(changes[key], document.data)
            members = changed_members(document.data, data)
            if not members:
                outcomes[key] = BulkItemOutcome(key, None, attempts=outcomes[key].attempts)
                continue
            items.append({"id": key, "ifMatch": _tag(document), "data": members})
            sent.append((key, data))
        if not items:
            break
        batches += 1
        response = yield _request(batch_url, items, atomic)
        results = _results(batch_url, response, len(items))
        retry: list[Hashable] = []
        final = False
        for (key, data), result in zip(sent, results, strict=True):
            status = result.get("status")
            attempts = outcomes[key].attempts + 1
            if status == 200:
                document = documents[key]
                tag = parse_etag(str(result["etag"]))
                written = Document(document.self_url, data, tag, None)
                outcomes[key] = BulkItemOutcome(key, 200, written, attempts=attempts)
                continue
            problem = result.get("problem")
            outcomes[key] = BulkItemOutcome(
                key, status, None, problem if isinstance(problem, dict) else None, attempts
            )
            if status in RETRIED:
                retry.append(key)
            else:
                final = True
        if not retry or final or batches > retries:
            break
        pending = retry if not atomic else [key for key, _ in sent]
        yield Sleep(backoff.delay(batches, rng))
        for key in pending:
            if outcomes[key].status in (409, 412):
                documents[key] = yield from read_flow(locate(key), learning=learning)
    outcome = BulkOutcome(outcomes, batches)
    if outcome.failed:
        raise BulkUpdateFailed(outcome)
    return outcome


def _apply(change: Change, data: Any) -> Any:
    draft = copy.deepcopy(data)
    result = change(draft)
    return draft if result is None else result


def _tag(document: Document) -> str:
    if document.etag is None or document.etag.weak:
        raise NoValidator(
            f"{document.url} came with no strong ETag: a bulk item needs one for its ifMatch"
        )
    return str(document.etag)


def _request(batch_url: str, items: list[dict[str, Any]], atomic: bool) -> Request:
    body = json.dumps({"atomic": atomic, "items": items}, separators=(",", ":")).encode()
    headers = (("Accept", "application/json"), ("Content-Type", BULK_MEDIA_TYPE))
    return Request("POST", batch_url, headers, body)


def _results(
    batch_url: str, response: Response | LostReply | None, expected: int
) -> list[dict[str, Any]]:
    """The per-item results of a batch's answer, in request order."""
    if isinstance(response, LostReply) or response is None:
        reason = "no reply" if response is None else response.reason
        raise OutcomeUnknown(method="POST", url=batch_url, key=None, reason=reason)
    if response.status >= 500:
        raise OutcomeUnknown(method="POST", url=batch_url, key=None, reason=str(response.status))
    body = response.json if response.content else None
    items = body.get("items") if isinstance(body, dict) else None
    if (
        not isinstance(items, list)
        or len(items) != expected
        or not all(isinstance(item, dict) for item in items)
    ):
        raise UnexpectedStatus(
            response.status, method="POST", url=batch_url, problem=problem_body(response)
        )
    return sorted(items, key=lambda item: int(item.get("index", 0)))
