"""[X y] held sparse (``_core._xcsc``): the same cross products as the dense
kernels and NumPy, and rejection of inconsistent CSC arrays."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedlm._core._remat import level_cross_dense, rest_cross_dense
from mixedlm._core._xcsc import csc_gram, level_cross_csc, rest_cross_csc


def _parts(M):
    M = sp.csc_array(M)
    return (M.indptr.astype(np.int64), M.indices.astype(np.int32),
            M.data.astype(np.float64))


def _design(n, P, nl, q, k, R, density, seed):
    rng = np.random.default_rng(seed)
    Xy = rng.standard_normal((n, P)) * (rng.random((n, P)) < density)
    Xy[:, -1] = rng.standard_normal(n)  # y: every row
    codes = rng.integers(0, nl, n).astype(np.int32)
    z = rng.standard_normal((n, k))
    cols = rng.integers(0, q, (n, R)).astype(np.int32)
    vals = rng.standard_normal((n, R))
    return np.asfortranarray(Xy), codes, z, cols, vals


@pytest.mark.parametrize("n, P, nl, q, k, R, density", [
    (1, 1, 1, 1, 1, 1, 1.0),
    (50, 4, 3, 7, 1, 1, 0.3),
    (400, 12, 20, 30, 2, 2, 0.1),
    (3000, 29, 150, 60, 1, 2, 0.05),
    (200, 5, 10, 8, 3, 0, 0.5),   # no rest terms
])
def test_csc_kernels_equal_the_dense_ones(n, P, nl, q, k, R, density):
    Xy, codes, z, cols, vals = _design(n, P, nl, q, k, R, density, n + P)
    parts = _parts(Xy)
    np.testing.assert_allclose(level_cross_csc(codes, z, *parts, nl),
                               level_cross_dense(codes, z, Xy, nl), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rest_cross_csc(cols, vals, *parts, q),
                               rest_cross_dense(cols, vals, Xy, q), rtol=1e-12, atol=1e-12)
    G = csc_gram(*parts, n)
    assert G.flags.f_contiguous and np.array_equal(G, G.T)
    np.testing.assert_allclose(G, Xy.T @ Xy, rtol=1e-12, atol=1e-12)


def test_csc_gram_sums_duplicate_and_unordered_entries():
    """Entries of one column in any row order, a (row, column) stored twice."""
    indptr = np.array([0, 3, 5], dtype=np.int64)
    indices = np.array([2, 0, 2, 1, 2], dtype=np.int32)
    data = np.array([1.0, 2.0, 3.0, 5.0, 7.0])
    dense = np.zeros((3, 2))
    np.add.at(dense, (indices, np.repeat([0, 1], [3, 2])), data)
    np.testing.assert_allclose(csc_gram(indptr, indices, data, 3), dense.T @ dense)
    codes = np.array([0, 1, 1], dtype=np.int32)
    np.testing.assert_allclose(level_cross_csc(codes, np.ones((3, 1)), indptr, indices,
                                               data, 2)[:, :, 0],
                               (np.eye(2)[codes].T @ dense).T)


@pytest.mark.parametrize("indptr, indices, data", [
    ([0, 2, 1], [0, 1], [1.0, 1.0]),        # pointers fall
    ([0, 1, 3], [0, 1], [1.0, 1.0]),        # end past the entries
    ([0, 1, 2], [0, 3], [1.0, 1.0]),        # row 3 of 3 rows
    ([0, 1, 2], [0, -1], [1.0, 1.0]),       # negative row
    ([0, 1, 2], [0, 1], [1.0]),             # data shorter than indices
    ([1, 1, 2], [0, 1], [1.0, 1.0]),        # does not start at 0
])
def test_csc_kernels_reject_inconsistent_arrays(indptr, indices, data):
    parts = (np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int32),
             np.array(data, dtype=np.float64))
    codes = np.zeros(3, dtype=np.int32)
    with pytest.raises(ValueError, match="inconsistent CSC"):
        level_cross_csc(codes, np.ones((3, 1)), *parts, 1)
    with pytest.raises(ValueError, match="inconsistent CSC"):
        rest_cross_csc(np.zeros((3, 1), np.int32), np.ones((3, 1)), *parts, 1)
    with pytest.raises(ValueError, match="inconsistent CSC"):
        csc_gram(*parts, 3)


def test_csc_kernels_reject_mismatched_rows():
    parts = _parts(np.ones((3, 2)))
    with pytest.raises(ValueError, match="inconsistent CSC"):
        level_cross_csc(np.zeros(3, np.int32), np.ones((4, 1)), *parts, 1)
    with pytest.raises(ValueError, match="inconsistent CSC"):
        rest_cross_csc(np.zeros((3, 1), np.int32), np.ones((3, 2)), *parts, 1)
    with pytest.raises(ValueError, match="inconsistent CSC"):
        csc_gram(*parts, 2)  # rows 2 of 2
