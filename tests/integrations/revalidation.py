"""What the ``validators=`` tests of each integration share: the precondition fields a
revalidating GET or HEAD may carry, as hypothesis strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import strategies as st

from ifmatch.stores import Snapshot


def _date(offset: int) -> str:
    return format_datetime(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset), True)


TAGS = st.sampled_from(['"v1"', '"v0"', "*", 'W/"v1"', '"v0", "v1"', "v1", '"v1", junk', ""])
#: ``"now"`` stands for the resource's own Last-Modified (see :func:`dated`).
DATES = st.sampled_from(["now", _date(-3600), _date(10**8), "yesterday", ""])
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "If-None-Match": TAGS,
        "If-Match": TAGS,
        "If-Modified-Since": DATES,
        "If-Unmodified-Since": DATES,
    },
)
METHODS = st.sampled_from(["GET", "HEAD"])


def dated(fields: dict[str, str], snapshot: Snapshot | None) -> dict[str, str]:
    """``fields`` with ``"now"`` replaced by ``snapshot``'s Last-Modified."""
    assert snapshot is not None and snapshot.last_modified is not None
    now = format_datetime(snapshot.last_modified, True)
    return {name: now if value == "now" else value for name, value in fields.items()}
