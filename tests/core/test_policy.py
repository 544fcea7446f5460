from __future__ import annotations

import pytest

from ifmatch.core import DEFAULT_POLICY, Policy


def test_defaults() -> None:
    assert DEFAULT_POLICY.require_precondition == {"PUT", "PATCH", "DELETE"}
    assert not DEFAULT_POLICY.warn_only and not DEFAULT_POLICY.accept_weak_echo


def test_methods_are_frozen() -> None:
    policy = Policy(require_precondition={"POST"})  # type: ignore[arg-type]
    assert policy.require_precondition == frozenset({"POST"})
    with pytest.raises(AttributeError):
        policy.warn_only = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"require_precondition": frozenset({"put"})},
        {"require_precondition": frozenset({"PUT "})},
        {"max_tags": 0},
        {"max_header_length": 0},
    ],
)
def test_invalid_policies(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Policy(**kwargs)  # type: ignore[arg-type]
