"""The recursive dense Cholesky kernels (``_core._chol``) against NumPy.

Sizes cover the LAPACK leaf (<= 64), the first splits, orders that are not
multiples of 8, and the InstEval Schur complement's order; inverses of the
leading block are checked for every split point class.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_triangular

from mixedlm._core import _chol

SIZES = [1, 2, 7, 64, 65, 100, 129, 257, 1157]


def spd(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    return np.asfortranarray(M @ M.T / n + np.eye(n))


@pytest.mark.parametrize("n", SIZES)
def test_cholesky_matches_numpy_and_keeps_upper(n):
    A = spd(n, n)
    W = A.copy(order="F")
    assert _chol.cholesky(W) == 0
    L = np.linalg.cholesky(A)
    np.testing.assert_allclose(np.tril(W), L, rtol=0, atol=1e-12 * np.abs(L).max())
    iu = np.triu_indices(n, 1)
    np.testing.assert_array_equal(W[iu], A[iu])  # strict upper triangle untouched


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("frac", [1.0, 0.5, 0.9])
def test_cholesky_inverse_of_leading_block(n, frac):
    m = max(1, round(frac * n))
    A = spd(n, 1000 + n)
    W = A.copy(order="F")
    out = np.full((m, m), 7.0, order="F")
    assert _chol.cholesky_inverse(W, out) == 0
    np.testing.assert_allclose(np.tril(W), np.linalg.cholesky(A), atol=1e-12)
    want = np.linalg.inv(A[:m, :m])
    np.testing.assert_allclose(np.tril(out), np.tril(want), rtol=0,
                               atol=1e-12 * np.abs(want).max())
    assert np.all(out[np.triu_indices(m, 1)] == 7.0)


@pytest.mark.parametrize("n", [7, 129, 1157])
def test_cholesky_inverse_factor_without_the_gram(n):
    m = n - 5
    A = spd(n, 2000 + n)
    W = A.copy(order="F")
    out = np.full((m, m), 7.0, order="F")
    assert _chol.cholesky_inverse(W, out, gram=False) == 0
    L = np.linalg.cholesky(A)
    want = np.linalg.inv(L[:m, :m])
    np.testing.assert_allclose(np.tril(out), want, rtol=0, atol=1e-12 * np.abs(want).max())
    assert np.all(out[np.triu_indices(m, 1)] == 7.0)


@pytest.mark.parametrize("n, bad", [(5, 3), (100, 1), (300, 200), (300, 299)])
def test_not_positive_definite_reports_the_leading_minor(n, bad):
    """info is LAPACK's: the order of the first leading minor that is not positive."""
    A = spd(n, 7)
    A[bad - 1, bad - 1] = -1e3
    W = A.copy(order="F")
    assert _chol.cholesky(W) == bad
    W = A.copy(order="F")
    assert _chol.cholesky_inverse(W, np.empty((n, n), order="F")) == bad


def test_solve_lower_transposed_uses_the_leading_block_of_a_padded_array():
    n, ld = 37, 40
    L = np.linalg.cholesky(spd(n, 3))
    pad = np.full((ld, n), np.nan, order="F")
    pad[:n] = L
    b = np.random.default_rng(0).standard_normal(n)
    x = b.copy()
    _chol.solve_lower_transposed(pad, n, x)
    np.testing.assert_allclose(x, solve_triangular(L, b, lower=True, trans="T"), rtol=1e-12)


def test_shape_errors():
    with pytest.raises(ValueError, match="square"):
        _chol.cholesky(np.zeros((3, 2), order="F"))
    with pytest.raises(ValueError, match="no larger"):
        _chol.cholesky_inverse(np.eye(3, order="F"), np.eye(4, order="F"))
    with pytest.raises(ValueError, match="sizes"):
        _chol.solve_lower_transposed(np.eye(3, order="F"), 3, np.zeros(2))
