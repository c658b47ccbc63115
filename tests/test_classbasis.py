"""The basis of class weights (``mixedlm._classbasis``).

The blocked solver's class weights w = t / (t a + 1) and g = t / (t a + 1)^2
must be reproduced class by class to ``CHECK_TOL`` at any t >= 0, including
t far outside the range a fit visits and the two limits; otherwise
``coefficients`` must refuse (and the solver take its exact path).
"""
from __future__ import annotations

import numpy as np
import pytest

from mixedlm._classbasis import BUILD_TOL, CHECK_TOL, class_basis, coefficients

# class values as they come: row counts of a 20,000 x 2,000 design at 1M and at
# 4M rows (Poisson-like spread), continuous sums of squares (a slope term), a
# single class
CLASS_SETS = {
    "counts_1M": np.arange(25.0, 80.0),
    "counts_4M": np.arange(148.0, 257.0),
    "slope_sums": np.sort(np.random.default_rng(3).gamma(400.0, 0.1, 40)),
    "single": np.array([7.0]),
}
# ranges so wide that rounding in the projection alone misses the smallest
# weights by more than BUILD_TOL (InstEval's 1 to 92 row counts; a zero class,
# whose weight t dwarfs the others' 1 / a): the basis must give up, and the
# solver keeps its exact paths
TOO_WIDE = {
    "wide": np.unique(np.round(np.geomspace(1.0, 92.0, 60))),
    "with_zero": np.array([0.0, 1.0, 2.0, 5.0]),
}


def _relative_miss(U, w):
    return np.max(np.abs(w - U @ (U.T @ w)) / np.abs(w))


@pytest.mark.parametrize("name", list(CLASS_SETS))
def test_basis_reproduces_every_weight(name):
    a = CLASS_SETS[name]
    U = class_basis(a, max_rank=len(a))
    assert U is not None
    assert U.shape[0] == len(a) and 1 <= U.shape[1] <= len(a)
    np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-13)
    # lam from far below to far above any fit's range, plus 0 and the big limit
    for lam in np.concatenate([[0.0], np.geomspace(1e-9, 1e9, 401), [1e60]]):
        t = lam * lam
        m = t * a + 1.0
        for w in (t / m, t / (m * m)):
            if not np.any(w):
                assert np.array_equal(coefficients(U, w), np.zeros(U.shape[1]))
                continue
            assert _relative_miss(U, w) <= CHECK_TOL, (name, lam)
            alpha = coefficients(U, w)
            assert alpha is not None
            np.testing.assert_allclose(U @ alpha, w, rtol=CHECK_TOL, atol=0)


def test_rank_is_small_for_row_counts():
    """The point of the basis: far fewer vectors than classes on count designs."""
    U1 = class_basis(CLASS_SETS["counts_1M"], max_rank=64)
    U4 = class_basis(CLASS_SETS["counts_4M"], max_rank=64)
    assert U1.shape[1] <= 16 < len(CLASS_SETS["counts_1M"])
    assert U4.shape[1] <= 14 < len(CLASS_SETS["counts_4M"])
    assert class_basis(CLASS_SETS["single"], max_rank=1).shape == (1, 1)


def test_gives_up_beyond_max_rank():
    a = CLASS_SETS["counts_1M"]
    r = class_basis(a, max_rank=len(a)).shape[1]
    assert r > 2
    assert class_basis(a, max_rank=r - 1) is None
    assert class_basis(a, max_rank=r).shape[1] == r


@pytest.mark.parametrize("name", list(TOO_WIDE))
def test_gives_up_when_rounding_alone_misses(name):
    a = TOO_WIDE[name]
    assert class_basis(a, max_rank=len(a)) is None


def test_coefficients_refuse_weights_outside_the_span():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    U = np.ones((4, 1)) / 2.0  # spans constant weights only
    assert coefficients(U, np.full(4, 0.3)) is not None
    w = 1.0 / (1.0 + a)
    assert coefficients(U, w) is None
    # a miss just above the tolerance is refused, one well below is accepted
    base = np.full(4, 0.25)
    assert coefficients(U, base * (1 + np.array([0, 0, 0, 1e3 * CHECK_TOL]))) is None
    assert coefficients(U, base * (1 + np.array([0, 0, 0, BUILD_TOL]))) is not None


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, -2.0]),
                                 np.array([1.0, np.nan]), np.ones((2, 2))])
def test_rejects_bad_class_values(bad):
    with pytest.raises(ValueError, match="class values"):
        class_basis(bad, max_rank=4)
