"""RFC 9110 §13.2.2 through the public ``evaluate``: the shared conformance table, then the
details each decision carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conformance import CASES, Case, render_headers
from ifmatch.core import (
    ANY,
    DEFAULT_POLICY,
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
# As the stores record the first write of a second: the whole second.
LAST_MODIFIED = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)
# A later write of the same second: the clock's fraction.
SAME_SECOND = LAST_MODIFIED + timedelta(microseconds=123456)


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
    # RFC 9110 §15.4.5: a 304 MUST carry the ETag a 200 would, and SHOULD NOT carry other
    # representation metadata unless it guides cache updates ("Last-Modified might be useful if
    # the response does not have an ETag field"). A client that validated by tag gets the tag;
    # one that validated by date also gets the date, to the second.
    state = ResourceState(CURRENT, SAME_SECOND)
    for fields in ({"If-None-Match": '"v3"'}, {"If-None-Match": '"v1", "v3"'}):
        decision = evaluate("GET", fields, state)
        assert isinstance(decision, NotModified)
        assert decision.headers == (("ETag", '"v3"'),)
    for fields in (
        {"If-Modified-Since": "Sun, 22 Nov 2026 10:30:16 GMT"},
        {"If-Modified-Since": "Sun, 22 Nov 2026 10:30:16 GMT", "If-Match": '"v3"'},
    ):
        decision = evaluate("GET", fields, state)
        assert isinstance(decision, NotModified)
        assert decision.headers == (
            ("ETag", '"v3"'),
            ("Last-Modified", "Sun, 22 Nov 2026 10:30:15 GMT"),
        )
    # No tag to send: the date is the validator left.
    untagged = evaluate("GET", {"If-None-Match": "*"}, ResourceState(None, SAME_SECOND))
    assert isinstance(untagged, NotModified)
    assert untagged.headers == (("Last-Modified", "Sun, 22 Nov 2026 10:30:15 GMT"),)


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


@pytest.mark.parametrize(
    ("method", "header", "date", "stored", "expect"),
    [
        # §13.1.4: "true if the selected representation's last modification date is earlier
        # than or equal to the date provided": compared as stored, with its fraction. A client
        # holding 10:30:15 may have seen an earlier write of that second.
        ("PUT", "If-Unmodified-Since", "10:30:15", LAST_MODIFIED, "proceed"),
        ("PUT", "If-Unmodified-Since", "10:30:15", SAME_SECOND, "412"),
        ("PUT", "If-Unmodified-Since", "10:30:16", SAME_SECOND, "proceed"),
        # §13.1.3: false (304) "if the selected representation's last modification date is
        # earlier or equal to the date provided": never a 304 after a change within that second.
        ("GET", "If-Modified-Since", "10:30:15", LAST_MODIFIED, "304"),
        ("GET", "If-Modified-Since", "10:30:15", SAME_SECOND, "proceed"),
        ("GET", "If-Modified-Since", "10:30:16", SAME_SECOND, "304"),
        # A naive stored date is UTC.
        ("GET", "If-Modified-Since", "10:30:15", SAME_SECOND.replace(tzinfo=None), "proceed"),
        ("GET", "If-Modified-Since", "10:30:15", LAST_MODIFIED.replace(tzinfo=None), "304"),
    ],
)
def test_dates_compare_with_the_stored_date_at_full_precision(
    method: str, header: str, date: str, stored: datetime, expect: str
) -> None:
    headers = {header: f"Sun, 22 Nov 2026 {date} GMT"}
    assert outcome(evaluate(method, headers, ResourceState(CURRENT, stored))) == expect


def test_a_change_within_the_named_second_says_so() -> None:
    ius = {"If-Unmodified-Since": "Sun, 22 Nov 2026 10:30:15 GMT"}
    decision = evaluate("PUT", ius, ResourceState(CURRENT, SAME_SECOND))
    assert isinstance(decision, PreconditionFailed)
    assert (decision.header, decision.code) == ("If-Unmodified-Since", "modified")
    assert "more than once within the second" in decision.detail
    assert "If-Match" in decision.detail and decision.current_etag == CURRENT
    later = ResourceState(CURRENT, LAST_MODIFIED + timedelta(seconds=1))
    decision = evaluate("PUT", ius, later)
    assert isinstance(decision, PreconditionFailed)
    assert decision.detail == "The resource was modified after the If-Unmodified-Since date."


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
        assert decision.condition.if_unmodified_since == LAST_MODIFIED
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


# --- tags altered by a compressing proxy (Apache httpd's mod_deflate, mod_brotli) -----------

ECHO = Policy(accept_weak_echo=True)


@pytest.mark.parametrize("sent", ['"v3-gzip"', '"v3-br"', 'W/"v3-gzip"'])
def test_a_suffixed_current_tag_gets_its_own_code_unless_the_policy_accepts_it(sent: str) -> None:
    refused = evaluate("PUT", {"If-Match": sent}, ResourceState(CURRENT))
    assert isinstance(refused, PreconditionFailed)
    assert (refused.header, refused.code, refused.current_etag) == (
        "If-Match",
        "altered-etag",
        CURRENT,
    )
    assert "mod_deflate" in refused.detail and "accept-weak-echo" in refused.detail
    accepted = evaluate("PUT", {"If-Match": sent}, ResourceState(CURRENT), ECHO)
    assert isinstance(accepted, Proceed)
    # The store is asked for the current version itself, as for a weakened echo.
    assert accepted.condition.if_match == (CURRENT,)


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ('"v2-gzip"', "etag-mismatch"),  # a stale version, suffixed: stale all the same
        ('"v3-deflate"', "etag-mismatch"),  # not a suffix any proxy is known to append
        ('"v3-gzip-gzip"', "etag-mismatch"),
        ('"v3gzip"', "etag-mismatch"),
    ],
)
def test_only_the_current_tag_with_a_known_suffix_is_accepted(sent: str, code: str) -> None:
    for policy in (DEFAULT_POLICY, ECHO):
        decision = evaluate("PUT", {"If-Match": sent}, ResourceState(CURRENT), policy)
        assert isinstance(decision, PreconditionFailed), (sent, policy)
        assert decision.code == code


def test_suffixes_count_only_for_tags_naming_an_integer_version() -> None:
    # "vabc-gzip" could be the tag of version "abc-gzip": never read as "vabc" altered.
    current = version_etag("abc")
    decision = evaluate("PUT", {"If-Match": '"vabc-gzip"'}, ResourceState(current), ECHO)
    assert isinstance(decision, PreconditionFailed) and decision.code == "altered-etag"
    assert "accept-weak-echo" not in decision.detail
    variant = version_etag(3, variant="application/hal+json")
    sent = f'"{variant.opaque}-br"'
    assert isinstance(evaluate("PUT", {"If-Match": sent}, ResourceState(variant), ECHO), Proceed)


def test_if_none_match_counts_a_suffixed_current_tag_under_the_policy() -> None:
    headers = {"If-None-Match": '"v3-gzip"'}
    assert isinstance(evaluate("GET", headers, ResourceState(CURRENT)), Proceed)
    assert isinstance(evaluate("GET", headers, ResourceState(CURRENT), ECHO), NotModified)
    stale = evaluate("PUT", {"If-None-Match": '"v2-gzip"'}, ResourceState(CURRENT), ECHO)
    assert isinstance(stale, Proceed)
    # The store refuses the write while version 2 is current, as the header check would.
    assert stale.condition.if_none_match == (version_etag(2),)
