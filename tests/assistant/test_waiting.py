"""The POST's status-poll schedule: its floor grows with the waits in flight."""

from __future__ import annotations

import pytest

from api.waiting import poll_floor


def test_a_single_wait_polls_from_two_milliseconds() -> None:
    """Alone (or with nothing counted yet) the floor is the 2 ms first interval."""
    assert poll_floor(0) == pytest.approx(0.002)
    assert poll_floor(1) == pytest.approx(0.002)


def test_the_floor_grows_with_waits_in_flight_up_to_100_ms() -> None:
    """2 ms per wait in flight, never more than the 100 ms longest interval."""
    assert poll_floor(10) == pytest.approx(0.02)
    assert poll_floor(40) == pytest.approx(0.08)
    assert poll_floor(50) == pytest.approx(0.1)
    assert poll_floor(500) == pytest.approx(0.1)
    assert [poll_floor(n) for n in range(1, 60)] == sorted(poll_floor(n) for n in range(1, 60))
