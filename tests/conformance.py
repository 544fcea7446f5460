"""The conformance table: RFC 9110 §13 cases, shared by the core tests and every integration.

Each case is a request (method + headers) against a resource in a known state, and the outcome
RFC 9110 (and RFC 6585 for 428) requires under ifmatch's default policy. Header values carry
placeholders, so the same table drives the pure core (with a fixed tag and date) and real HTTP
servers (with whatever tag and Last-Modified the server sent):

    {etag}       the current strong tag, quoted            "v3"
    {weak}       its weak form                            W/"v3"
    {opaque}     the current opaque-tag, unquoted          v3
    {stale}      a syntactically valid tag that is not current
    {lm}         the current Last-Modified as IMF-fixdate; {lm-1} / {lm+1} one second either side
    {lm:850}     the same instant in RFC 850 format; {lm:asctime} in asctime format
    {lm+46y:850} an RFC 850 date about 46 years after it (a two-digit year the 50-year rule of
                 §5.6.7 reads as the future); {lm+51y:850} about 51 years after (the past)

Outcomes: ``proceed`` (the method is performed: 2xx over HTTP), ``304``, ``400``, ``412``,
``428``. ``exists=False`` cases target a resource that does not exist yet (PUT creates it);
``http=False`` cases need a state an HTTP runner cannot set up (no ETag, OPTIONS, a custom
policy) and run against the core only. Rows whose section starts with ``deviation`` follow
ifmatch's one documented leniency (``Policy.accept_bare_version_token``), not the RFC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ifmatch.core import ETag, format_http_date

__all__ = ["CASES", "HTTP_CASES", "Case", "render_headers"]

STALE = '"stale-0"'


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    headers: tuple[tuple[str, str], ...]
    expect: str
    section: str
    exists: bool = True
    http: bool = True
    policy: dict[str, Any] = field(default_factory=dict)
    has_etag: bool = True
    has_last_modified: bool = True
    etag_format: str = "version"  # or "content": the current tag is not a version tag

    def __str__(self) -> str:
        return self.id


def _c(
    id: str,
    method: str,
    headers: dict[str, str] | list[tuple[str, str]],
    expect: str,
    section: str,
    **kw: Any,
) -> Case:
    pairs = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers)
    return Case(id, method, pairs, expect, section, **kw)


IM, INM, IMS, IUS = "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"
BARE = "deviation: bare version token"
STRICT = {"accept_bare_version_token": False}

CASES: tuple[Case, ...] = (
    # --- GET / HEAD: If-None-Match (§13.1.2, weak comparison, 304) ------------------------------
    _c("get-plain", "GET", {}, "proceed", "13.2.2 step 6"),
    _c("get-inm-current", "GET", {INM: "{etag}"}, "304", "13.1.2"),
    _c("get-inm-weak-current", "GET", {INM: "{weak}"}, "304", "13.1.2 weak comparison"),
    _c("get-inm-stale", "GET", {INM: STALE}, "proceed", "13.1.2"),
    _c("get-inm-list-with-current", "GET", {INM: STALE + ", {etag}"}, "304", "13.1.2 list"),
    _c("get-inm-list-with-weak", "GET", {INM: STALE + ", {weak}"}, "304", "13.1.2 list"),
    _c("get-inm-star", "GET", {INM: "*"}, "304", "13.1.2 *"),
    _c("get-inm-bare-current", "GET", {INM: "{opaque}"}, "304", BARE),
    _c("get-inm-bare-stale", "GET", {INM: "stale-0"}, "400", "8.8.3 unquoted"),
    _c("get-inm-list-then-garbage", "GET", {INM: "{etag}, garbage"}, "400", "8.8.3 unquoted"),
    _c("get-inm-bare-in-list", "GET", {INM: STALE + ", {opaque}"}, "400", "8.8.3 unquoted"),
    _c("get-inm-malformed", "GET", {INM: '"unterminated'}, "400", "8.8.3"),
    _c("get-inm-lowercase-weak", "GET", {INM: 'w/"{opaque}"'}, "400", '8.8.3 weak = %s"W/"'),
    _c("get-inm-empty", "GET", {INM: ""}, "proceed", "5.6.1 empty list"),
    _c("head-inm-current", "HEAD", {INM: "{etag}"}, "304", "13.1.2"),
    _c("head-inm-stale", "HEAD", {INM: STALE}, "proceed", "13.1.2"),
    # --- GET / HEAD: If-Modified-Since (§13.1.3) -----------------------------------------------
    _c("get-ims-equal", "GET", {IMS: "{lm}"}, "304", "13.1.3"),
    _c("get-ims-later", "GET", {IMS: "{lm+1}"}, "304", "13.1.3"),
    _c("get-ims-earlier", "GET", {IMS: "{lm-1}"}, "proceed", "13.1.3"),
    _c("get-ims-rfc850", "GET", {IMS: "{lm:850}"}, "304", "5.6.7 rfc850-date"),
    _c("get-ims-asctime", "GET", {IMS: "{lm:asctime}"}, "304", "5.6.7 asctime-date"),
    _c(
        "get-ims-rfc850-46-years-ahead",
        "GET",
        {IMS: "{lm+46y:850}"},
        "304",
        "5.6.7 two-digit year: 50-year rule",
    ),
    _c(
        "get-ims-rfc850-51-years-ahead",
        "GET",
        {IMS: "{lm+51y:850}"},
        "proceed",
        "5.6.7 two-digit year: 50-year rule",
    ),
    _c("get-ims-invalid", "GET", {IMS: "yesterday"}, "proceed", "13.1.3 invalid date ignored"),
    _c(
        "get-ims-too-long",
        "GET",
        {IMS: ", ".join(["{lm}"] * 300)},
        "400",
        "limits",
    ),
    _c("get-ims-two-dates", "GET", {IMS: "{lm}, {lm}"}, "proceed", "13.1.3 more than one member"),
    _c("head-ims-equal", "HEAD", {IMS: "{lm}"}, "304", "13.1.3"),
    _c(
        "get-inm-stale-ims-equal",
        "GET",
        {INM: STALE, IMS: "{lm}"},
        "proceed",
        "13.2.2 step 4 only without If-None-Match",
    ),
    _c(
        "get-inm-current-ims-earlier", "GET", {INM: "{etag}", IMS: "{lm-1}"}, "304", "13.2.2 step 3"
    ),
    # --- GET: If-Match / If-Unmodified-Since also apply to safe methods ------------------------
    _c("get-im-current", "GET", {IM: "{etag}"}, "proceed", "13.1.1"),
    _c("get-im-stale", "GET", {IM: STALE}, "412", "13.1.1"),
    _c("get-im-star", "GET", {IM: "*"}, "proceed", "13.1.1 *"),
    _c("get-im-weak", "GET", {IM: "{weak}"}, "412", "13.1.1 strong comparison"),
    _c("get-ius-earlier", "GET", {IUS: "{lm-1}"}, "412", "13.1.4"),
    _c("get-ius-equal", "GET", {IUS: "{lm}"}, "proceed", "13.1.4"),
    # --- PUT: If-Match (§13.1.1, strong comparison, 412) --------------------------------------
    _c("put-none", "PUT", {}, "428", "RFC 6585 §3"),
    _c("put-im-current", "PUT", {IM: "{etag}"}, "proceed", "13.1.1"),
    _c("put-im-stale", "PUT", {IM: STALE}, "412", "13.1.1"),
    _c("put-im-weak-current", "PUT", {IM: "{weak}"}, "412", "13.1.1 strong comparison"),
    _c("put-im-list-with-current", "PUT", {IM: STALE + ", {etag}"}, "proceed", "13.1.1 list"),
    _c("put-im-list-weak-and-stale", "PUT", {IM: "{weak}, " + STALE}, "412", "13.1.1 list"),
    _c("put-im-list-ows", "PUT", {IM: " " + STALE + " ,\t{etag} , "}, "proceed", "5.6.1 OWS"),
    _c("put-im-star", "PUT", {IM: "*"}, "proceed", "13.1.1 *"),
    _c("put-im-bare-current", "PUT", {IM: "{opaque}"}, "proceed", BARE),
    _c("put-im-bare-current-ows", "PUT", {IM: " {opaque}\t"}, "proceed", BARE),
    _c("put-im-bare-stale", "PUT", {IM: "stale-0"}, "412", "13.1.1 malformed is false"),
    _c("put-im-list-then-garbage", "PUT", {IM: "{etag}, garbage"}, "400", "8.8.3 unquoted"),
    _c("put-im-bare-then-garbage", "PUT", {IM: "{opaque}, garbage"}, "400", "8.8.3 unquoted"),
    _c("put-im-bare-in-list", "PUT", {IM: STALE + ", {opaque}"}, "400", "8.8.3 unquoted"),
    _c("put-im-bare-trailing-comma", "PUT", {IM: "{opaque},"}, "400", "8.8.3 unquoted"),
    _c(
        "put-im-bare-repeated-lines",
        "PUT",
        [(IM, "{opaque}"), (IM, "{opaque}")],
        "400",
        "8.8.3 unquoted",
    ),
    _c(
        "put-im-repeated-lines",
        "PUT",
        [(IM, STALE), (IM, "{etag}")],
        "proceed",
        "5.3 repeated field lines",
    ),
    _c("put-im-empty", "PUT", {IM: ""}, "412", "13.1.1 no tag matches"),
    _c("put-im-unterminated", "PUT", {IM: '"{opaque}'}, "400", "8.8.3"),
    _c("put-im-lowercase-weak", "PUT", {IM: 'w/"{opaque}"'}, "400", "8.8.3"),
    _c("put-im-star-mixed", "PUT", {IM: '*, "{opaque}"'}, "400", "13.1.1 * or list"),
    _c("put-im-junk-between", "PUT", {IM: '"{opaque}" "x"'}, "400", "5.6.1 list syntax"),
    _c("put-im-too-many", "PUT", {IM: ", ".join(f'"t{i}"' for i in range(65))}, "400", "limits"),
    _c("put-im-too-long", "PUT", {IM: '"' + "x" * 9000 + '"'}, "400", "limits"),
    _c(
        "put-im-comma-inside-quotes",
        "PUT",
        {IM: '"a,b", {etag}'},
        "proceed",
        "8.8.3 etagc includes ','",
    ),
    # --- PUT: If-None-Match (§13.1.2: 412 for methods other than GET/HEAD) ---------------------
    _c("put-inm-current", "PUT", {INM: "{etag}"}, "412", "13.1.2 not 304 for PUT"),
    _c("put-inm-weak-current", "PUT", {INM: "{weak}"}, "412", "13.1.2 weak comparison"),
    _c("put-inm-star-exists", "PUT", {INM: "*"}, "412", "13.1.2 create-only"),
    _c("put-inm-stale", "PUT", {INM: STALE}, "proceed", "13.1.2"),
    _c("put-inm-bare-current", "PUT", {INM: "{opaque}"}, "412", BARE),
    _c("put-inm-bare-stale", "PUT", {INM: "stale-0"}, "400", "8.8.3 unquoted"),
    _c(
        "put-im-current-inm-current",
        "PUT",
        {IM: "{etag}", INM: "{etag}"},
        "412",
        "13.2.2 step 1 then step 3",
    ),
    _c("put-im-current-inm-stale", "PUT", {IM: "{etag}", INM: STALE}, "proceed", "13.2.2"),
    # --- PUT on a resource that does not exist yet ---------------------------------------------
    _c("put-create-inm-star", "PUT", {INM: "*"}, "proceed", "13.1.2 create-only", exists=False),
    _c(
        "put-create-im-star",
        "PUT",
        {IM: "*"},
        "412",
        "13.1.1 * needs a representation",
        exists=False,
    ),
    _c("put-create-im-tag", "PUT", {IM: "{etag}"}, "412", "13.1.1", exists=False),
    _c("put-create-im-bare", "PUT", {IM: "{opaque}"}, "412", "13.1.1", exists=False),
    _c("put-create-inm-bare", "PUT", {INM: "{opaque}"}, "400", "8.8.3 unquoted", exists=False),
    # --- PUT: If-Unmodified-Since (§13.1.4) ----------------------------------------------------
    _c("put-ius-equal", "PUT", {IUS: "{lm}"}, "proceed", "13.1.4"),
    _c("put-ius-later", "PUT", {IUS: "{lm+1}"}, "proceed", "13.1.4"),
    _c("put-ius-earlier", "PUT", {IUS: "{lm-1}"}, "412", "13.1.4"),
    _c("put-ius-rfc850-earlier", "PUT", {IUS: "{lm-1:850}"}, "412", "5.6.7 rfc850-date"),
    _c("put-ius-asctime-equal", "PUT", {IUS: "{lm:asctime}"}, "proceed", "5.6.7 asctime-date"),
    _c(
        "put-ius-rfc850-46-years-ahead",
        "PUT",
        {IUS: "{lm+46y:850}"},
        "proceed",
        "5.6.7 two-digit year: 50-year rule",
    ),
    _c("put-ius-invalid", "PUT", {IUS: "not a date"}, "428", "13.1.4 invalid date ignored"),
    _c(
        "put-ius-non-ascii-digits",
        "PUT",
        {IUS: "Sun, 22 Nov 2026 10:30:\u0661\u0664 GMT"},
        "428",
        "5.6.7 DIGIT is ASCII",
        http=False,
    ),
    _c(
        "get-ims-non-ascii-digits",
        "GET",
        {IMS: "Sun, \u0662\u0662 Nov 2026 10:30:15 GMT"},
        "proceed",
        "5.6.7 DIGIT is ASCII",
        http=False,
    ),
    _c(
        "put-im-current-ius-earlier",
        "PUT",
        {IM: "{etag}", IUS: "{lm-1}"},
        "proceed",
        "13.2.2 step 2 only without If-Match",
    ),
    _c("put-im-stale-ius-later", "PUT", {IM: STALE, IUS: "{lm+1}"}, "412", "13.2.2 step 1"),
    _c("put-ims-only", "PUT", {IMS: "{lm-1}"}, "428", "13.1.3 GET/HEAD only"),
    _c("put-ims-equal-only", "PUT", {IMS: "{lm}"}, "428", "13.1.3 never 304 for PUT"),
    # --- PATCH and DELETE ---------------------------------------------------------------------
    _c("patch-none", "PATCH", {}, "428", "RFC 6585 §3"),
    _c("patch-im-current", "PATCH", {IM: "{etag}"}, "proceed", "13.1.1"),
    _c("patch-im-stale", "PATCH", {IM: STALE}, "412", "13.1.1"),
    _c("patch-im-weak", "PATCH", {IM: "{weak}"}, "412", "13.1.1"),
    _c("patch-ius-earlier", "PATCH", {IUS: "{lm-1}"}, "412", "13.1.4"),
    _c("delete-none", "DELETE", {}, "428", "RFC 6585 §3"),
    _c("delete-im-current", "DELETE", {IM: "{etag}"}, "proceed", "13.1.1"),
    _c("delete-im-stale", "DELETE", {IM: STALE}, "412", "13.1.1"),
    _c("delete-im-star", "DELETE", {IM: "*"}, "proceed", "13.1.1 *"),
    _c("delete-inm-current", "DELETE", {INM: "{etag}"}, "412", "13.1.2"),
    _c("delete-im-malformed", "DELETE", {IM: "\x01"}, "400", "8.8.3"),
    # --- core only: methods, missing validators, policies --------------------------------------
    _c("post-none", "POST", {}, "proceed", "POST not required by default", http=False),
    _c("post-im-stale", "POST", {IM: STALE}, "412", "13.1.1", http=False),
    _c("post-inm-star", "POST", {INM: "*"}, "412", "13.1.2", http=False),
    _c("options-im-stale", "OPTIONS", {IM: STALE}, "proceed", "13.2.1 OPTIONS", http=False),
    _c("options-im-malformed", "OPTIONS", {IM: '"x'}, "proceed", "13.2.1", http=False),
    _c("trace-inm-current", "TRACE", {INM: "{etag}"}, "proceed", "13.2.1 TRACE", http=False),
    _c(
        "get-missing-inm-current",
        "GET",
        {INM: "{etag}"},
        "proceed",
        "13.1.2",
        exists=False,
        http=False,
    ),
    _c("get-missing-inm-star", "GET", {INM: "*"}, "proceed", "13.1.2", exists=False, http=False),
    _c("get-no-etag-inm", "GET", {INM: STALE}, "proceed", "13.1.2", has_etag=False, http=False),
    _c("put-no-etag-im", "PUT", {IM: STALE}, "412", "13.1.1", has_etag=False, http=False),
    _c("put-no-etag-im-star", "PUT", {IM: "*"}, "proceed", "13.1.1 *", has_etag=False, http=False),
    _c(
        "put-no-lm-ius",
        "PUT",
        {IUS: "{lm}"},
        "428",
        "13.1.4 no modification date",
        has_last_modified=False,
        http=False,
    ),
    _c(
        "get-no-lm-ims",
        "GET",
        {IMS: "{lm}"},
        "proceed",
        "13.1.3 no modification date",
        has_last_modified=False,
        http=False,
    ),
    _c(
        "put-warn-only",
        "PUT",
        {},
        "proceed",
        "policy: warn-only",
        http=False,
        policy={"warn_only": True},
    ),
    _c(
        "put-nothing-required",
        "PUT",
        {},
        "proceed",
        "policy: no 428",
        http=False,
        policy={"require_precondition": frozenset()},
    ),
    _c(
        "post-required",
        "POST",
        {},
        "428",
        "policy: POST required",
        http=False,
        policy={"require_precondition": frozenset({"POST"})},
    ),
    _c(
        "put-ius-does-not-count",
        "PUT",
        {IUS: "{lm}"},
        "428",
        "policy",
        http=False,
        policy={"unmodified_since_counts": False},
    ),
    _c(
        "put-weak-echo-accepted",
        "PUT",
        {IM: "{weak}"},
        "proceed",
        "policy: weak echo",
        http=False,
        policy={"accept_weak_echo": True},
    ),
    _c(
        "put-weak-echo-stale",
        "PUT",
        {IM: 'W/"v2"'},
        "412",
        "policy: weak echo",
        http=False,
        policy={"accept_weak_echo": True},
    ),
    _c(
        "put-weak-echo-not-version-tag",
        "PUT",
        {IM: "{weak}"},
        "412",
        "policy: only our own version tags",
        http=False,
        policy={"accept_weak_echo": True},
        etag_format="content",
    ),
    _c(
        "put-im-bare-strict",
        "PUT",
        {IM: "{opaque}"},
        "400",
        "policy: strict",
        http=False,
        policy=STRICT,
    ),
    _c(
        "put-im-bare-stale-strict",
        "PUT",
        {IM: "stale-0"},
        "400",
        "policy: strict",
        http=False,
        policy=STRICT,
    ),
    _c(
        "get-inm-bare-strict",
        "GET",
        {INM: "{opaque}"},
        "400",
        "policy: strict",
        http=False,
        policy=STRICT,
    ),
    _c(
        "put-im-quoted-strict",
        "PUT",
        {IM: "{etag}"},
        "proceed",
        "policy: strict",
        http=False,
        policy=STRICT,
    ),
    _c(
        "put-im-bare-content-tag",
        "PUT",
        {IM: "{opaque}"},
        "412",
        "deviation: only a version tag",
        http=False,
        etag_format="content",
    ),
    _c(
        "get-inm-bare-content-tag",
        "GET",
        {INM: "{opaque}"},
        "400",
        "deviation: only a version tag",
        http=False,
        etag_format="content",
    ),
    _c(
        "put-small-tag-limit",
        "PUT",
        {IM: '"a", "b", {etag}'},
        "400",
        "policy: max_tags",
        http=False,
        policy={"max_tags": 2},
    ),
)

HTTP_CASES = tuple(case for case in CASES if case.http)


def _formats(moment: datetime) -> dict[str, str]:
    imf = format_http_date(moment)
    return {
        "": imf,
        ":850": moment.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
        ":asctime": f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}",
    }


def render_headers(case: Case, etag: ETag, last_modified: datetime) -> list[tuple[str, str]]:
    """Substitute the placeholders of ``case`` with a resource's actual validators."""
    values = {"{etag}": str(etag), "{weak}": str(etag.as_weak()), "{opaque}": etag.opaque}
    second, year = timedelta(seconds=1), timedelta(days=365)
    offsets = {"": 0 * second, "-1": -second, "+1": second, "+46y": 46 * year, "+51y": 51 * year}
    for label, delta in offsets.items():
        moment = last_modified + delta
        for suffix, text in _formats(moment).items():
            values["{lm" + label + suffix + "}"] = text
    rendered = []
    for name, template in case.headers:
        value = template
        for key in sorted(values, key=len, reverse=True):
            value = value.replace(key, values[key])
        rendered.append((name, value))
    return rendered
