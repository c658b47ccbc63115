"""The dissected Cholesky kernels (``_core._sepchol``) against NumPy.

Matrices are built with the structure the kernels assume: leading
components that no entry joins, each reaching a random subset of a dense
root's rows, and dense last rows (the [X y] rows every component reaches).
The factor, its zeros, and inv(L[:m, :m]) for every m from the root's start
to the order are compared with NumPy's dense results.
"""
from __future__ import annotations

import numpy as np
import pytest

from mixedlm._core import _sepchol


def dissected(sizes, root, dense, seed, reach=0.5):
    """An SPD matrix with components of ``sizes``, then ``root`` root columns,
    the last ``dense`` of them reached by every component; and its
    (cstart, rptr, rrow)."""
    rng = np.random.default_rng(seed)
    k = int(sum(sizes))
    n = k + root
    cstart = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rows = []
    mask = np.zeros((n, n), bool)
    mask[k:, k:] = True
    for i, c in enumerate(sizes):
        b, e = cstart[i], cstart[i + 1]
        pick = np.flatnonzero(rng.random(root - dense) < reach) + k
        r = np.concatenate([pick, np.arange(n - dense, n)]).astype(np.int32)
        rows.append(r)
        mask[b:e, b:e] = True
        mask[np.ix_(r, np.arange(b, e))] = True
        mask[np.ix_(np.arange(b, e), r)] = True
    # a random matrix with that pattern, made SPD by its diagonal
    M = rng.standard_normal((n, n)) * mask
    M = (M + M.T) / 2
    M[np.diag_indices(n)] = np.abs(M).sum(axis=1) + 1.0
    rptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    rrow = np.concatenate(rows) if rows else np.empty(0, np.int32)
    return np.asfortranarray(M), cstart, rptr, rrow.astype(np.int32), k


CASES = [([3], 4, 1, 0.5), ([1, 1, 1], 5, 2, 0.5), ([40, 70, 9], 90, 30, 0.6),
         ([130, 65], 150, 29, 0.3), ([200], 100, 0, 1.0), ([], 50, 5, 0.5),
         ([17, 80, 33, 5], 70, 1, 0.0)]


@pytest.mark.parametrize("sizes, root, dense, reach", CASES)
def test_factor_matches_numpy_and_keeps_its_zeros(sizes, root, dense, reach):
    M, cstart, rptr, rrow, k = dissected(sizes, root, dense, len(sizes) + root, reach)
    W = M.copy(order="F")
    assert _sepchol.cholesky_dissected(W, cstart, rptr, rrow) == 0
    L = np.linalg.cholesky(M)
    np.testing.assert_allclose(np.tril(W), L, rtol=0, atol=1e-12 * np.abs(L).max())
    zeros = np.tril(M == 0.0)
    zeros[np.abs(L) > 1e-300] = False  # only the structural zeros of L itself
    assert np.all(W[zeros] == 0.0)
    iu = np.triu_indices(M.shape[0], 1)
    np.testing.assert_array_equal(W[iu], M[iu])  # strict upper triangle untouched


@pytest.mark.parametrize("sizes, root, dense, reach", CASES)
def test_inverse_factor_of_every_leading_block_from_the_root(sizes, root, dense, reach):
    M, cstart, rptr, rrow, k = dissected(sizes, root, dense, 100 + root, reach)
    n = M.shape[0]
    L = np.linalg.cholesky(M)
    for m in sorted({max(k, 1), k + (n - k) // 2, n - dense, n} - {0}):
        if m < k:
            continue
        W = M.copy(order="F")
        out = np.full((m, m), 7.0, order="F")
        assert _sepchol.cholesky_dissected(W, cstart, rptr, rrow, out) == 0
        np.testing.assert_allclose(np.tril(W), L, rtol=0, atol=1e-12 * np.abs(L).max())
        want = np.linalg.inv(L[:m, :m])
        np.testing.assert_allclose(np.tril(out), want, rtol=0,
                                   atol=1e-12 * np.abs(want).max())
        assert np.all(out[np.triu_indices(m, 1)] == 7.0)


def test_not_positive_definite_reports_the_leading_minor():
    M, cstart, rptr, rrow, k = dissected([30, 20], 40, 3, 9)
    for bad in [5, 31, 45, 60, 90]:
        A = M.copy(order="F")
        A[bad - 1, bad - 1] = -1e6
        assert _sepchol.cholesky_dissected(A.copy(order="F"), cstart, rptr, rrow) == bad
        out = np.empty((k + 10, k + 10), order="F")
        got = _sepchol.cholesky_dissected(A.copy(order="F"), cstart, rptr, rrow, out)
        assert got == bad


def test_a_dissection_that_does_not_fit_is_refused():
    M, cstart, rptr, rrow, k = dissected([10, 12], 20, 2, 3)
    bad_rows = rrow.copy()
    bad_rows[0] = 0  # a row above the root
    unsorted = rrow.copy()
    unsorted[[0, 1]] = unsorted[[1, 0]]
    for cs, rp, rr in [(cstart, rptr, bad_rows), (cstart, rptr, unsorted),
                       (np.array([0, 10, 10, 22]), np.array([0, 3, 3, len(rrow)]), rrow),
                       (np.array([0, 10, 50]), rptr, rrow),
                       (cstart, rptr[:-1], rrow)]:
        with pytest.raises(ValueError, match="dissection"):
            _sepchol.cholesky_dissected(M.copy(order="F"), np.asarray(cs, np.int64),
                                        np.asarray(rp, np.int64), rr)
    with pytest.raises(ValueError, match="k <= m"):
        _sepchol.cholesky_dissected(M.copy(order="F"), cstart, rptr, rrow,
                                    np.empty((k - 1, k - 1), order="F"))


def test_work_size_counts_each_part():
    cstart = np.array([0, 3, 10], np.int64)
    rptr = np.array([0, 4, 6], np.int64)
    assert _sepchol.work_size(cstart, rptr, 15) == (max(4 * 3, 2 * 7), 16, 15 - 10 + 1)
    with pytest.raises(ValueError, match="one length"):
        _sepchol.work_size(cstart, np.array([0, 4], np.int64), 15)
