"""``Idempotency-Key`` for the Django decorator and the DRF views.

A keyed write runs as one transaction: the claim is committed first (so a concurrent retry
sees it), then the view's writes and the completion of the record commit together, so the
record is done exactly when the write committed. See ``ifmatch.integrations._idempotency`` for
the protocol.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.request import RawPostDataException

from ..core.idempotency import IdempotencyRecord
from ..stores._django_ledger import DjangoLedger
from ..stores.idempotency import Claim
from ._fields import render_problem
from ._idempotency import Idempotency, judged, keyed_request, replay_headers, twin_completed

__all__ = ["KeyedWrite", "begin_keyed", "replay_response", "user_scope"]

logger = logging.getLogger("ifmatch")


def _headers(request: HttpRequest) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in request.headers.items()]


def replay_response(record: IdempotencyRecord, variant: str | None) -> HttpResponse:
    """A retry of a committed write: its status, ETag, Location; no body."""
    response = HttpResponse(status=record.status or 200)
    del response["Content-Type"]
    for name, value in replay_headers(record, variant):
        response[name] = value
    return response


def problem_answer(body: dict[str, Any], error_format: str) -> HttpResponse:
    data, headers = render_problem(body, error_format)
    response = HttpResponse(data, status=int(body["status"]))
    for name, value in headers:
        response[name] = value
    return response


class KeyedWrite:
    """A claimed key and the transaction its write runs in (entered by :meth:`begin`)."""

    def __init__(
        self, claim: Claim, ledger: DjangoLedger, variant: str | None, echo: tuple[str, str]
    ) -> None:
        self.claim, self.ledger, self.variant, self.echo = claim, ledger, variant, echo
        self.atomic: transaction.Atomic | None = None

    def begin(self) -> None:
        self.atomic = transaction.atomic(using=self.ledger.using)
        self.atomic.__enter__()

    def finish(self, response: HttpResponseBase, version: int | None) -> HttpResponseBase:
        """Complete the record with a 2xx's status and ``version`` in the write's transaction,
        then end it; a request that did not succeed releases its claim. The answer to send."""
        atomic, self.atomic = self.atomic, None
        succeeded = 200 <= response.status_code < 300
        replacement: HttpResponseBase | None = None
        try:
            if succeeded:
                location = response.get("Location")
                completion = self.claim.completion(response.status_code, location)
                if not self.ledger.complete(completion, version):
                    # Another attempt of this key took the claim over and committed first.
                    transaction.set_rollback(True, using=self.ledger.using)
                    replacement = self._replay() or response
        except BaseException:
            if atomic is not None:
                atomic.__exit__(*sys.exc_info())
            raise
        if atomic is not None:
            atomic.__exit__(None, None, None)
        if not succeeded:
            replacement = self._replay()
            self.release()
        answer = replacement or response
        answer[self.echo[0]] = self.echo[1]  # the key was honoured, whatever the answer
        return answer

    def abort(self, exc_info: tuple[Any, Any, Any]) -> None:
        """The request failed with an exception: roll back and release the claim."""
        atomic, self.atomic = self.atomic, None
        if atomic is not None:
            atomic.__exit__(*exc_info)
        self.release()

    def _replay(self) -> HttpResponse | None:
        record = self.ledger.lookup(self.claim.record.id)
        if twin_completed(self.claim, record):
            assert record is not None
            return replay_response(record, self.variant)
        return None

    def release(self) -> None:
        try:
            self.ledger.release(self.claim.record.id, self.claim.record.attempt)
        except Exception:  # the database may be why the request failed
            logger.warning("ifmatch: could not release an idempotency claim", exc_info=True)


def begin_keyed(
    request: Any,
    options: Idempotency | None,
    *,
    using: str,
    scope: str,
    error_format: str,
    variant: str | None = None,
    body: Callable[[], bytes] | None = None,
) -> KeyedWrite | HttpResponse | None:
    """Claim the request's key: ``None`` when it carries none (and needs none), the answer to
    send now (a replay, 400, 409, 422), or the :class:`KeyedWrite` to run the write in."""

    def raw_body() -> bytes:
        try:
            raw: bytes = request.body
        except RawPostDataException:  # a form already read by the framework
            return repr(sorted(request.POST.lists())).encode()
        return raw

    keyed = keyed_request(
        options,
        request.method or "GET",
        _headers(request),
        scope=f"{scope}\x1f{request.path}",
        target=request.get_full_path(),
        body=body or raw_body,
    )
    if keyed is None:
        return None
    if isinstance(keyed, dict):
        return problem_answer(keyed, error_format)
    assert options is not None
    ledger = DjangoLedger(using)
    claim = ledger.claim(
        keyed.id, keyed.fingerprint, retention=options.retention, in_flight=options.in_flight
    )
    outcome = judged(claim, request.path)
    if outcome.claim is not None:
        return KeyedWrite(outcome.claim, ledger, variant, keyed.echo)
    if outcome.replay is not None:
        answer = replay_response(outcome.replay, variant)
    else:
        assert outcome.problem is not None
        answer = problem_answer(outcome.problem, error_format)
    answer[keyed.echo[0]] = keyed.echo[1]
    return answer


def user_scope(request: HttpRequest) -> str:
    """The authenticated user's primary key, or ``""``."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "pk", "") or "")
