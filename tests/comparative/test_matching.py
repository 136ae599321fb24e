"""Nearest-neighbour matching, hand-computed cases first (MatchIt's rules), then edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from openhsct.comparative.errors import ComparativeError
from openhsct.comparative.matching import match_nearest

# rows:          0     1     2     3     4     5
DIST = np.array([0.50, 0.45, 0.30, 0.52, 0.31, 0.90])
TREAT = np.array([1, 0, 1, 0, 0, 0])


def test_largest_first_nearest_available_then_second_round():
    # Round 1: row 0 (0.50, largest first) takes 0.52 (0.02 away, nearer than 0.45); row 2 (0.30) takes 0.31.
    # Round 2: row 0 takes 0.45; row 2 has only 0.90 left.
    m = match_nearest(DIST, TREAT, ratio=2, caliper=None)
    np.testing.assert_array_equal(m.match_matrix, [[3, 1], [4, 5]])
    assert m.n_treated_matched == 2 and m.n_control_matched == 4
    # Each control 1/2 of its treated patient's set, rescaled so the control weights add up to 4.
    np.testing.assert_allclose(m.weights, [1, 1, 1, 1, 1, 1])


def test_absolute_caliper_leaves_a_second_match_out_and_rescales_weights():
    m = match_nearest(DIST, TREAT, ratio=2, caliper=0.1, std_caliper=False)
    np.testing.assert_array_equal(m.match_matrix, [[3, 1], [4, -1]])
    # Row 0's controls 1/2 each, row 2's control 1; scaled by 3 / 2 so that they add up to 3 controls.
    np.testing.assert_allclose(m.weights, [1, 0.75, 1, 0.75, 1.5, 0])


def test_caliper_in_standard_deviations_of_the_distance():
    m = match_nearest(DIST, TREAT, ratio=1, caliper=0.1)
    assert m.caliper == pytest.approx(0.1 * np.std(DIST, ddof=1)) and m.caliper_sd == pytest.approx(np.std(DIST, ddof=1))


def test_equal_distances_take_the_left_neighbour():
    m = match_nearest([0.25, 0.5, 0.75], [0, 1, 0], caliper=None)
    np.testing.assert_array_equal(m.match_matrix, [[0]])


def test_subclasses_are_numbered_by_treated_row_number_read_as_text():
    # Treated rows 2 and 10 (1-based): as text "10" sorts before "2", so row 10 is subclass 1 (as MatchIt).
    dist = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    treat = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    m = match_nearest(dist, treat, caliper=None)
    assert m.subclass[9] == 1 and m.subclass[1] == 2
    assert m.subclass[m.match_matrix[1, 0]] == 1 and m.subclass[m.match_matrix[0, 0]] == 2


def test_without_replacement_no_control_is_used_twice():
    rng = np.random.default_rng(3)
    dist = rng.random(300)
    treat = (rng.random(300) < 0.3).astype(int)
    m = match_nearest(dist, treat, ratio=2, caliper=0.05)
    used = m.match_matrix[m.match_matrix >= 0]
    assert used.size == np.unique(used).size and np.all(treat[used] == 0)
    gaps = np.abs(dist[np.flatnonzero(treat)][:, None] - np.where(m.match_matrix >= 0, dist[m.match_matrix], np.nan))
    assert np.nanmax(gaps) <= m.caliper


def test_smallest_and_data_orders():
    smallest = match_nearest(DIST, TREAT, caliper=None, m_order="smallest")
    # Row 2 (0.30) goes first and takes 0.31; row 0 then takes 0.52.
    np.testing.assert_array_equal(smallest.match_matrix, [[3], [4]])
    data = match_nearest(DIST, TREAT, caliper=None, m_order="data")
    np.testing.assert_array_equal(data.match_matrix, [[3], [4]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": 0}, "ratio"),
        ({"m_order": "random"}, "m_order"),
        ({"compat": "4.6"}, "compat"),
        ({"caliper": 1e-9, "std_caliper": False}, "no treated patient found a control"),
    ],
)
def test_bad_settings_are_user_errors(kwargs, message):
    with pytest.raises(ComparativeError, match=message):
        match_nearest(DIST, TREAT, **kwargs)


def test_one_group_only_is_a_user_error():
    with pytest.raises(ComparativeError, match="both groups"):
        match_nearest([0.1, 0.2], [1, 1])
