"""RFC 9110 §13.2.2 through the public ``evaluate``: the shared conformance table, then the
details each decision carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conformance import CASES, Case, render_headers
from ifmatch.core import (
    ANY,
    BadPrecondition,
    ETag,
    NotModified,
    Policy,
    PreconditionFailed,
    PreconditionRequired,
    Preconditions,
    Proceed,
    ResourceState,
    content_etag,
    evaluate,
    evaluate_preconditions,
    version_etag,
)

CURRENT = version_etag(3)
LAST_MODIFIED = datetime(2026, 11, 22, 10, 30, 15, 123456, tzinfo=UTC)


def state_for(case: Case) -> ResourceState:
    etag = CURRENT if case.etag_format == "version" else content_etag(b"body")
    return ResourceState(
        etag=etag if case.has_etag and case.exists else None,
        last_modified=LAST_MODIFIED if case.has_last_modified and case.exists else None,
        exists=case.exists,
    )


def outcome(decision: object) -> str:
    return "proceed" if isinstance(decision, Proceed) else str(decision.status)  # type: ignore[attr-defined]


def test_table_is_large_and_covers_every_outcome() -> None:
    assert len(CASES) >= 60
    assert {case.expect for case in CASES} == {"proceed", "304", "400", "412", "428"}
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conformance_table(case: Case) -> None:
    state = state_for(case)
    etag = state.etag or CURRENT
    headers = render_headers(case, etag, LAST_MODIFIED.replace(microsecond=0))
    decision = evaluate(case.method, headers, state, Policy(**case.policy), now=LAST_MODIFIED)
    assert outcome(decision) == case.expect, decision


def test_304_carries_validators_at_http_precision() -> None:
    decision = evaluate("GET", {"If-None-Match": '"v3"'}, ResourceState(CURRENT, LAST_MODIFIED))
    assert isinstance(decision, NotModified)
    assert decision.headers == (
        ("ETag", '"v3"'),
        ("Last-Modified", "Sun, 22 Nov 2026 10:30:15 GMT"),
    )


def test_412_names_header_code_and_current_tag() -> None:
    decision = evaluate("PUT", {"If-Match": '"v2"'}, ResourceState(CURRENT))
    assert decision == PreconditionFailed(
        "If-Match",
        "etag-mismatch",
        decision.detail,  # type: ignore[union-attr]
        current_etag=CURRENT,
    )


def test_412_for_weak_echo_explains_why() -> None:
    decision = evaluate("PUT", {"If-Match": 'W/"v3"'}, ResourceState(CURRENT))
    assert isinstance(decision, PreconditionFailed)
    assert decision.code == "weak-etag"
    assert "proxy" in decision.detail and "strong" in decision.detail


def test_create_only_conflict_code() -> None:
    decision = evaluate("PUT", {"If-None-Match": "*"}, ResourceState(CURRENT))
    assert isinstance(decision, PreconditionFailed)
    assert (decision.header, decision.code) == ("If-None-Match", "exists")


def test_if_unmodified_since_failure_names_its_header() -> None:
    decision = evaluate(
        "PUT",
        {"If-Unmodified-Since": "Sun, 22 Nov 2026 10:30:14 GMT"},
        ResourceState(CURRENT, LAST_MODIFIED),
    )
    assert isinstance(decision, PreconditionFailed)
    assert (decision.header, decision.code) == ("If-Unmodified-Since", "modified")


def test_400_names_the_header_and_the_problem() -> None:
    decision = evaluate("PUT", {"if-none-match": '"a", *'}, ResourceState(CURRENT))
    assert isinstance(decision, BadPrecondition)
    assert decision.header == "If-None-Match"
    assert "'*'" in decision.detail


@pytest.mark.parametrize(
    ("headers", "header", "detail"),
    [
        ({"If-Match": '"v3", garbage'}, "If-Match", "unquoted entity-tag garbage at position 6"),
        ({"If-Match": "v3, garbage"}, "If-Match", "unquoted entity-tag v3 at position 0"),
        ({"If-None-Match": '"v3", garbage'}, "If-None-Match", "unquoted entity-tag garbage"),
        (
            {"If-None-Match": "v2"},
            "If-None-Match",
            'the entity-tag v2 is not quoted: write it "v2"',
        ),
    ],
)
def test_unquoted_tokens_are_400s_naming_the_header(
    headers: dict[str, str], header: str, detail: str
) -> None:
    for method in ("GET", "PUT"):
        decision = evaluate(method, headers, ResourceState(CURRENT))
        assert isinstance(decision, BadPrecondition), decision
        assert decision.header == header and detail in decision.detail


class TestBareVersionToken:
    """The one shape outside the grammar that counts: exactly one unquoted token equal to the
    current version tag's opaque-tag, as halchemy sends a list item's ``_etag``."""

    def test_current_is_the_strong_tag_and_the_store_checks_it(self) -> None:
        decision = evaluate("PATCH", {"If-Match": "v3"}, ResourceState(CURRENT))
        assert isinstance(decision, Proceed)
        assert decision.condition.if_match == (CURRENT,)

    def test_stale_is_a_412_that_sends_the_client_to_re_read(self) -> None:
        for token in ("v2", "v4", "v03", "garbage", "V3", "v3~1a2b3c4d"):
            decision = evaluate("PUT", {"If-Match": token}, ResourceState(CURRENT))
            assert decision == PreconditionFailed(
                "If-Match",
                "etag-mismatch",
                decision.detail,  # type: ignore[union-attr]
                current_etag=CURRENT,
            ), token

    def test_a_variant_tag_has_its_own_bare_form(self) -> None:
        variant = version_etag(3, variant="text/html")
        decision = evaluate("PUT", {"If-Match": variant.opaque}, ResourceState(variant))
        assert isinstance(decision, Proceed)

    def test_only_a_strong_version_tag_of_an_existing_resource(self) -> None:
        for state in (
            ResourceState(content_etag(b"x")),
            ResourceState(CURRENT.as_weak()),
            ResourceState(None),
            ResourceState(CURRENT, exists=False),
        ):
            token = (state.etag or CURRENT).opaque
            assert evaluate("PUT", {"If-Match": token}, state).status == 412, state
            assert evaluate("GET", {"If-None-Match": token}, state).status == 400, state

    def test_strict_policy_refuses_it_with_the_reason(self) -> None:
        strict = Policy(accept_bare_version_token=False)
        for headers in ({"If-Match": "v3"}, {"If-Match": "v2"}, {"If-None-Match": "v3"}):
            decision = evaluate("PUT", headers, ResourceState(CURRENT), strict)
            assert isinstance(decision, BadPrecondition)
            [(name, value)] = headers.items()
            assert decision.header == name
            assert decision.detail == f'the entity-tag {value} is not quoted: write it "{value}"'
        assert isinstance(
            evaluate("PUT", {"If-Match": '"v3"'}, ResourceState(CURRENT), strict), Proceed
        )

    def test_parsed_preconditions_carry_it(self) -> None:
        bare = Preconditions(if_match=(ETag("v3"),), bare_token_fields=frozenset({"If-Match"}))
        assert isinstance(evaluate_preconditions("PUT", bare, ResourceState(CURRENT)), Proceed)
        strict = Policy(accept_bare_version_token=False)
        decision = evaluate_preconditions("PUT", bare, ResourceState(CURRENT), strict)
        assert isinstance(decision, BadPrecondition)

    def test_methods_that_ignore_preconditions_ignore_it(self) -> None:
        strict = Policy(accept_bare_version_token=False)
        decision = evaluate("OPTIONS", {"If-Match": "v2"}, ResourceState(CURRENT), strict)
        assert isinstance(decision, Proceed)


def test_two_digit_years_are_read_against_the_current_time_without_a_clock() -> None:
    """No integration passes ``now``: a two-digit year 49 years ahead is still the future."""
    now = datetime.now(UTC)
    ahead = (now + timedelta(days=49 * 365)).strftime("%A, %d-%b-%y %H:%M:%S GMT")
    state = ResourceState(CURRENT, last_modified=now)
    assert isinstance(evaluate("GET", {"If-Modified-Since": ahead}, state), NotModified)
    assert isinstance(evaluate("PUT", {"If-Unmodified-Since": ahead}, state), Proceed)


def test_428_tells_how_to_resubmit() -> None:
    decision = evaluate("DELETE", {}, ResourceState(CURRENT))
    assert isinstance(decision, PreconditionRequired)
    assert "If-Match" in decision.detail
    assert decision.current_etag == CURRENT


def test_warn_only_proceeds_with_a_warning() -> None:
    decision = evaluate("PUT", {}, ResourceState(CURRENT), Policy(warn_only=True))
    assert decision == Proceed(warnings=("precondition-required",))


class TestWriteCondition:
    """What a Proceed asks the store to re-check atomically."""

    def test_if_match_keeps_only_tags_that_can_match(self) -> None:
        decision = evaluate("PUT", {"If-Match": 'W/"v1", "v2", "v3"'}, ResourceState(CURRENT))
        assert isinstance(decision, Proceed)
        assert decision.condition.if_match == (ETag("v2"), ETag("v3"))

    def test_weak_echo_becomes_strong(self) -> None:
        decision = evaluate(
            "PUT", {"If-Match": 'W/"v3"'}, ResourceState(CURRENT), Policy(accept_weak_echo=True)
        )
        assert isinstance(decision, Proceed)
        assert decision.condition.if_match == (ETag("v3"),)

    def test_star_and_create_only(self) -> None:
        decision = evaluate("PUT", {"If-Match": "*"}, ResourceState(CURRENT))
        assert isinstance(decision, Proceed) and decision.condition.if_match is ANY
        decision = evaluate("PUT", {"If-None-Match": "*"}, ResourceState(exists=False))
        assert isinstance(decision, Proceed) and decision.condition.if_none_match is ANY

    def test_if_unmodified_since_kept_only_without_if_match(self) -> None:
        ius = {"If-Unmodified-Since": "Sun, 22 Nov 2026 10:30:15 GMT"}
        state = ResourceState(CURRENT, LAST_MODIFIED)
        decision = evaluate("PUT", ius, state)
        assert isinstance(decision, Proceed)
        assert decision.condition.if_unmodified_since == LAST_MODIFIED.replace(microsecond=0)
        decision = evaluate("PUT", {**ius, "If-Match": '"v3"'}, state)
        assert isinstance(decision, Proceed)
        assert decision.condition.if_unmodified_since is None

    def test_unconditional(self) -> None:
        decision = evaluate("GET", {}, ResourceState(CURRENT))
        assert isinstance(decision, Proceed) and decision.condition.is_unconditional


def test_headers_accept_bytes_pairs_and_any_case() -> None:
    decision = evaluate("GET", [(b"IF-NONE-MATCH", b'"v3"')], ResourceState(CURRENT))
    assert isinstance(decision, NotModified)


def test_method_is_case_insensitive() -> None:
    assert isinstance(evaluate("put", {}, ResourceState(CURRENT)), PreconditionRequired)


def test_evaluate_preconditions_takes_parsed_input() -> None:
    pre = Preconditions(if_match=(ETag("v3"),))
    assert isinstance(evaluate_preconditions("DELETE", pre, ResourceState(CURRENT)), Proceed)
    assert isinstance(evaluate_preconditions("OPTIONS", Preconditions(), ResourceState()), Proceed)
