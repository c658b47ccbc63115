"""The one pass over the data (``_core._remat``): cross products by level, against
dictionaries built row by row."""
from __future__ import annotations

import numpy as np
import pytest

from mixedlm._core._remat import column_incidence, level_cross_sparse


@pytest.mark.parametrize("n, nl, q, k", [
    (1, 1, 1, 1),
    (10, 3, 5, 1),
    (5000, 3, 2000, 2),   # levels of ~1,700 entries: the sort's large gaps
    (60000, 4, 9000, 1),  # ~15,000 rows a level in random column order
])
def test_level_cross_sparse_merges_and_sorts(n, nl, q, k):
    rng = np.random.default_rng(n)
    codes = rng.integers(0, nl, n).astype(np.int32)
    codes[:nl] = np.arange(min(nl, n))
    z = rng.standard_normal((n, k))
    cols = rng.integers(0, q, (n, 1)).astype(np.int32)
    vals = rng.standard_normal((n, 1))
    ptr, idx, val = level_cross_sparse(codes, z, cols, vals, nl, q)
    assert ptr[0] == 0 and ptr[-1] == len(idx) == len(val)
    for lv in range(nl):
        sl = slice(ptr[lv], ptr[lv + 1])
        want: dict[int, np.ndarray] = {}
        for c, v, zz in zip(cols[codes == lv, 0], vals[codes == lv, 0], z[codes == lv]):
            want[int(c)] = want.get(int(c), 0.0) + v * zz
        assert idx[sl].tolist() == sorted(want)  # each column once, ascending
        np.testing.assert_allclose(val[sl], np.array([want[c] for c in idx[sl]]),
                                   rtol=1e-12, atol=1e-12)
    cptr, cent, lev = column_incidence(ptr, idx, q)
    assert cptr[-1] == len(idx)
    for c in range(q):
        e = cent[cptr[c]:cptr[c + 1]]
        assert np.all(idx[e] == c)
        assert np.all(np.diff(lev[e]) > 0)  # level order within a column


def test_column_incidence_validates_the_entries_once():
    """The per-evaluation kernels trust idx: it is checked where it is sorted."""
    ptr = np.array([0, 2, 3], dtype=np.int64)
    idx = np.array([0, 2, 1], dtype=np.int32)
    cptr, cent, lev = column_incidence(ptr, idx, 3)
    assert cptr.tolist() == [0, 1, 2, 3] and cent.tolist() == [0, 2, 1]
    assert lev.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="rest columns"):
        column_incidence(ptr, idx, 2)  # idx 2 is out of range
    with pytest.raises(ValueError, match="rise"):
        column_incidence(np.array([0, 3, 2], dtype=np.int64), idx, 3)


def test_level_cross_sparse_rejects_out_of_range_codes():
    codes = np.array([0, 1, 1], dtype=np.int32)
    z1 = np.ones((3, 1))
    cols = np.array([[0], [2], [1]], dtype=np.int32)
    vals = np.ones((3, 1))
    ptr, idx, val = level_cross_sparse(codes, z1, cols, vals, 2, 3)
    assert ptr.tolist() == [0, 1, 3] and idx.tolist() == [0, 1, 2]
    assert val[:, 0].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="cols"):
        level_cross_sparse(codes, z1, cols, vals, 2, 2)  # column 2 of 2
    with pytest.raises(ValueError, match="codes"):
        level_cross_sparse(codes, z1, cols, vals, 1, 3)  # level 1 of 1
