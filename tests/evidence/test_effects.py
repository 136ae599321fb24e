import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openhsct.errors import ValidationError
from openhsct.evidence.effects import (
    escalc_2x2,
    escalc_prop,
    log_hr_from_ci,
    transf_ilogit,
    transf_ipft,
    transf_ipft_hm,
    transf_pft,
)


def test_logit_by_hand_and_zero_cell_correction():
    yi, vi = escalc_prop([3, 0, 10], [10, 20, 10], "PLO")
    # 3/10: log(3/7), 1/3 + 1/7; 0/20 -> 0.5/20.5; 10/10 -> 10.5/0.5
    assert yi[0] == pytest.approx(np.log(3 / 7))
    assert vi[0] == pytest.approx(1 / 3 + 1 / 7)
    assert yi[1] == pytest.approx(np.log(0.5 / 20.5))
    assert vi[1] == pytest.approx(1 / 0.5 + 1 / 20.5)
    assert yi[2] == pytest.approx(np.log(10.5 / 0.5))


def test_freeman_tukey_by_hand_needs_no_correction():
    yi, vi = escalc_prop([0, 4], [9, 9], "PFT")
    assert yi[0] == pytest.approx(0.5 * (np.arcsin(0) + np.arcsin(np.sqrt(1 / 10))))
    assert yi[1] == pytest.approx(0.5 * (np.arcsin(np.sqrt(4 / 10)) + np.arcsin(np.sqrt(5 / 10))))
    assert vi == pytest.approx([1 / 38, 1 / 38])


def test_rr_and_or_match_escalc_on_bcg(bcg, goldens):
    yi, vi = escalc_2x2(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, "RR")
    np.testing.assert_allclose(yi, bcg.yi, atol=1e-12)
    np.testing.assert_allclose(vi, bcg.vi, atol=1e-12)
    yi, vi = escalc_2x2(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, "OR")
    np.testing.assert_allclose(yi, goldens["bcg_or"]["yi"], atol=1e-12)
    np.testing.assert_allclose(vi, goldens["bcg_or"]["vi"], atol=1e-12)


@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_zero_cells_as_escalc(goldens, measure):
    z = goldens["zero_cells"]
    yi, vi = escalc_2x2(z["ai"], z["bi"], z["ci"], z["di"], measure)
    np.testing.assert_allclose(yi, z[measure]["yi"], atol=1e-12)
    np.testing.assert_allclose(vi, z[measure]["vi"], atol=1e-12)


def test_log_hr_from_ci_mist():
    # MIST: HR 0.07 (95% CI 0.02-0.24)
    yi, vi = log_hr_from_ci([0.07], [0.02], [0.24])
    assert yi[0] == pytest.approx(np.log(0.07))
    assert np.sqrt(vi[0]) == pytest.approx((np.log(0.24) - np.log(0.02)) / (2 * 1.959963984540054))


def test_invalid_inputs_are_refused():
    with pytest.raises(ValidationError):
        escalc_prop([5], [3])
    with pytest.raises(ValidationError):
        escalc_prop([1], [3], "XYZ")
    with pytest.raises(ValidationError):
        log_hr_from_ci([1.0], [2.0], [1.0])


@given(st.integers(min_value=1, max_value=5000), st.floats(min_value=0.0, max_value=1.0))
def test_miller_inverse_undoes_the_double_arcsine(n, p):
    x = round(p * n)
    t = transf_pft(x / n, n)
    assert transf_ipft(t, n) == pytest.approx(x / n, abs=1e-9)


def test_ipft_hm_uses_the_harmonic_mean():
    ni = np.array([10.0, 40.0])
    t = np.array([0.3, 0.6])
    np.testing.assert_allclose(transf_ipft_hm(t, ni), transf_ipft(t, 1 / np.mean(1 / ni)))
    assert transf_ilogit(0.0) == 0.5
