"""The words of a population's "why not" line (transforms.populations.why_not), read by
`ecm explain`; each population's own line is tested through explain (tests/test_explain.py)."""

from __future__ import annotations

import pytest

from transforms.populations.why_not import count_gap, met, threshold


@pytest.mark.parametrize(
    ("count", "threshold", "text"),
    [
        (4, 5, "4 of 5 avoidable ED visits (the 5th would qualify)"),
        (1, 3, "1 of 3 avoidable ED visits (2 more would qualify)"),
        (0, 3, "0 of 3 avoidable ED visits"),
        (4.25, 5, "4.25 of 5 avoidable ED visits (0.75 more would qualify)"),
        (1, 2, "1 of 2 avoidable ED visits (the 2nd would qualify)"),
        (2, None, "2 avoidable ED visits"),
    ],
)
def test_count_gap(count, threshold, text):
    assert count_gap(count, threshold, "avoidable ED visit", "avoidable ED visits") == text


@pytest.mark.parametrize(
    ("flag", "absent", "text"),
    [
        (True, None, "complex need yes"),
        (False, None, "complex need: none in the lookback"),
        (False, "no complex need", "no complex need"),
    ],
)
def test_met(flag, absent, text):
    assert met(flag, "complex need", absent) == text


@pytest.mark.parametrize(
    ("block", "value"),
    [({"n": 5}, 5.0), ({"n": 2.5}, 2.5), ({"n": "5"}, None), ({}, None)],
)
def test_threshold_is_a_number_of_the_block_or_none(block, value):
    assert threshold(block, "n") == value
