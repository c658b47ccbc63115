"""The symbolic kernels of the dissection (``_core._dissect``) against NumPy:
the Schur complement's pattern, its lower CSC, and the symbolic Cholesky
(elimination tree, column counts and structures) against the nonzeros of a
numeric factor of a random matrix with that pattern."""
from __future__ import annotations

import numpy as np
import pytest

from mixedlm._core import _dissect


def levels(nl, q, seed, per=4):
    """Level entries (ptr, idx sorted within levels) and a Gram pattern."""
    rng = np.random.default_rng(seed)
    idx, ptr = [], [0]
    for _ in range(nl):
        cols = np.unique(rng.integers(0, q, rng.integers(0, per + 1)))
        idx.append(cols)
        ptr.append(ptr[-1] + len(cols))
    idx = np.concatenate(idx).astype(np.int32) if idx else np.empty(0, np.int32)
    gcols = [np.unique(np.concatenate([[c], rng.integers(c, q, 2)])) for c in range(q)]
    gptr = np.concatenate([[0], np.cumsum([len(g) for g in gcols])]).astype(np.int64)
    return np.array(ptr, np.int64), idx, gptr, np.concatenate(gcols).astype(np.int32)


def pattern_numpy(ptr, idx, gptr, grow, q):
    P = np.eye(q, dtype=np.uint8)
    for lo, hi in zip(ptr[:-1], ptr[1:]):
        P[np.ix_(idx[lo:hi], idx[lo:hi])] = 1
    for c in range(q):
        P[grow[gptr[c]:gptr[c + 1]], c] = 1
        P[c, grow[gptr[c]:gptr[c + 1]]] = 1
    return P


@pytest.mark.parametrize("nl, q, seed", [(0, 3, 0), (5, 1, 1), (40, 30, 2), (300, 130, 3)])
def test_pattern_and_lower_csc(nl, q, seed):
    ptr, idx, gptr, grow = levels(nl, q, seed)
    P = _dissect.schur_pattern(ptr, idx, gptr, grow, q)
    np.testing.assert_array_equal(P, pattern_numpy(ptr, idx, gptr, grow, q))
    indptr, indices = _dissect.lower_csc(P)
    for c in range(q):
        np.testing.assert_array_equal(indices[indptr[c]:indptr[c + 1]],
                                      np.flatnonzero(P[c:, c]) + c)


@pytest.mark.parametrize("q, seed", [(1, 0), (2, 1), (63, 2), (64, 3), (65, 4), (200, 5)])
def test_factor_structure_matches_a_numeric_factor(q, seed):
    rng = np.random.default_rng(seed)
    ptr, idx, gptr, grow = levels(q // 2 + 1, q, seed, per=3)
    P = _dissect.schur_pattern(ptr, idx, gptr, grow, q)
    perm = rng.permutation(q).astype(np.int64)
    parent, count, struct = _dissect.factor_structure(P, perm)
    # a random SPD matrix with the permuted pattern: no cancellation, so the
    # nonzeros of its factor are the symbolic structure
    Pp = P[np.ix_(perm, perm)].astype(bool)
    M = np.where(Pp, rng.uniform(0.1, 1.0, (q, q)), 0.0)
    M = (M + M.T) / 2
    M[np.diag_indices(q)] = M.sum(axis=1) + 1.0
    nz = np.abs(np.linalg.cholesky(M)) > 0
    np.testing.assert_array_equal(count, nz.sum(axis=0))
    for j in range(q):
        below = np.flatnonzero(nz[j + 1:, j]) + j + 1
        np.testing.assert_array_equal(_dissect.struct_rows(struct, j), below)
        assert parent[j] == (below[0] if len(below) else -1)


def test_bad_input_is_refused():
    eye = np.eye(3, dtype=np.uint8)
    with pytest.raises(ValueError, match="perm has 2 entries for 3 x 3 columns"):
        _dissect.factor_structure(eye, np.arange(2, dtype=np.int64))
    for perm in ([0, 0, 1], [0, 1, 3], [-1, 0, 1]):
        with pytest.raises(ValueError, match="not a permutation"):
            _dissect.factor_structure(eye, np.array(perm, dtype=np.int64))
    _, _, S = _dissect.factor_structure(eye, np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="column 3 out of range"):
        _dissect.struct_rows(S, 3)
    ptr = np.array([0, 2, 3], np.int64)
    idx = np.array([1, 4, 2], np.int32)
    gptr = np.arange(6, dtype=np.int64)
    grow = np.arange(5, dtype=np.int32)
    _dissect.schur_pattern(ptr, idx, gptr, grow, 5)  # consistent
    for args in [(ptr, np.array([1, 5, 2], np.int32), gptr, grow),
                 (np.array([0, 2, 4], np.int64), idx, gptr, grow),
                 (ptr, idx, gptr[:-1], grow), (ptr, idx, gptr, grow + 1)]:
        with pytest.raises(ValueError, match="out of range for 5 rest columns"):
            _dissect.schur_pattern(*args, 5)
