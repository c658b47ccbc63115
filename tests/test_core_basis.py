"""The class-basis kernels (``_core._basis``) against dense NumPy sums.

P_j = sum_k U[k, j] M_k with M_k the lower triangle of sum over class k's
levels of v_l v_l', X likewise for the [X y] rows, and the gradient's
quadratic form, for designs whose rest columns are touched densely and
sparsely, with a random (not orthonormal) U so that every coordinate counts.
"""
from __future__ import annotations

import _oracle as oracle
import numpy as np
import pytest

import mixedlm
from mixedlm import _pairs
from mixedlm._core._basis import basis_level_pairs, basis_quadform

CASES = ["nested", "crossed_scalar", "crossed_small", "three_factors",
         "interaction_crossed", "no_fixed"]


def _solver(case, sim_df):
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df, solver="blocked")
    assert m.solver.has_gradient and m.solver.first.k == 1
    return m, m.solver


def _level_matrix(s):
    """Dense (levels x rest columns) cross products v_l."""
    nl = len(s.ptr) - 1
    V = np.zeros((nl, s.q_rest))
    for lv in range(nl):
        sl = slice(s.ptr[lv], s.ptr[lv + 1])
        V[lv, s.idx[sl]] = s.val[sl, 0]
    return V


def _unpack(P, q, r):
    """(r, q, q) lower-triangular matrices from the by-column storage."""
    out, off = np.zeros((r, q, q)), 0
    for c in range(q):
        m = q - c
        out[:, c:, c] = P[off:off + r * m].reshape(r, m)
        off += r * m
    assert off == len(P)
    return out


@pytest.mark.parametrize("case", CASES)
def test_basis_pairs_match_dense_class_sums(case, sim_df):
    _, s = _solver(case, sim_df)
    a11, cls = _pairs.weight_classes(s.A11)
    r = 3
    U = np.random.default_rng(7).normal(size=(len(a11), r))
    P, X = basis_level_pairs(s.ptr, s.idx, s.val, cls, U, s.AZX, s.q_rest)
    V = _level_matrix(s)
    q = s.q_rest
    want_P = np.zeros((r, q, q))
    want_X = np.zeros((q, r, s.AZX.shape[0]))
    for k in range(len(a11)):
        Vk = V[cls == k]
        Mk = np.tril(Vk.T @ Vk)
        Xk = (s.AZX[:, cls == k, 0] @ Vk).T  # (q, P)
        want_P += U[k][:, None, None] * Mk
        want_X += U[k][None, :, None] * Xk[:, None, :]
    np.testing.assert_allclose(_unpack(P, q, r), want_P, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(X, want_X, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("seed", range(12))
def test_basis_pairs_on_random_structures(seed):
    """Many classes per column and every density, so that both ways of clearing
    the per-class scratch (whole column, touched rows) and empty levels run."""
    rng = np.random.default_rng(seed)
    nl, q = int(rng.integers(1, 60)), int(rng.integers(1, 80))
    K = int(rng.integers(1, min(nl, 12) + 1))
    dens = rng.uniform(0.01, 0.9)
    rows = [np.sort(rng.choice(q, size=rng.binomial(q, dens), replace=False))
            for _ in range(nl)]
    ptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    idx = np.concatenate(rows + [np.empty(0, int)]).astype(np.int32)
    val = rng.normal(size=(len(idx), 1))
    cls = rng.integers(0, K, nl).astype(np.int32)
    r, P = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    U = rng.normal(size=(K, r))
    AZX = rng.normal(size=(P, nl, 1))
    Pb, X = basis_level_pairs(ptr, idx, val, cls, U, AZX, q)
    V = np.zeros((nl, q))
    for lv in range(nl):
        V[lv, idx[ptr[lv]:ptr[lv + 1]]] = val[ptr[lv]:ptr[lv + 1], 0]
    want_P, want_X = np.zeros((r, q, q)), np.zeros((q, r, P))
    for k in range(K):
        Vk = V[cls == k]
        want_P += U[k][:, None, None] * np.tril(Vk.T @ Vk)
        want_X += U[k][None, :, None] * (AZX[:, cls == k, 0] @ Vk).T[:, None, :]
    np.testing.assert_allclose(_unpack(Pb, q, r), want_P, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(X, want_X, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("p", [0, 2])
def test_basis_quadform_matches_numpy(p, sim_df):
    _, s = _solver("crossed_scalar", sim_df)
    a11, cls = _pairs.weight_classes(s.A11)
    rng = np.random.default_rng(8)
    r, q = 4, s.q_rest
    U = rng.normal(size=(len(a11), r))
    P, X = basis_level_pairs(s.ptr, s.idx, s.val, cls, U, s.AZX, q)
    beta = rng.normal(size=r)
    rs = rng.uniform(0.5, 2.0, q)
    A = rng.normal(size=(q + p, q + p))
    S = A @ A.T
    Sf = np.asfortranarray(np.tril(S) + np.triu(rng.normal(size=S.shape), 1))  # upper ignored
    got = basis_quadform(P, X, beta, rs, Sf, p)
    # the same sum from the level vectors: sum_l g_l (v' R S R v + 2 v' R S_zx AZX[:p])
    V = _level_matrix(s)
    g = U[cls] @ beta
    R = np.diag(rs)
    want = 0.0
    for lv in range(len(cls)):
        v = R @ V[lv]
        want += g[lv] * (v @ S[:q, :q] @ v + 2 * v @ S[:q, q:q + p] @ s.AZX[:p, lv, 0])
    assert got == pytest.approx(want, rel=1e-11)


def test_kernels_reject_inconsistent_input(sim_df):
    _, s = _solver("crossed_scalar", sim_df)
    a11, cls = _pairs.weight_classes(s.A11)
    U = np.ones((len(a11), 2))
    with pytest.raises(ValueError, match="class"):
        bad = cls.copy()
        bad[0] = len(a11)
        basis_level_pairs(s.ptr, s.idx, s.val, bad, U, s.AZX, s.q_rest)
    with pytest.raises(ValueError, match="rest columns"):
        basis_level_pairs(s.ptr, s.idx, s.val, cls, U, s.AZX, s.q_rest - 1)
    with pytest.raises(ValueError, match="rank"):
        basis_level_pairs(s.ptr, s.idx, s.val, cls, np.ones((len(a11), 0)), s.AZX, s.q_rest)
    P, X = basis_level_pairs(s.ptr, s.idx, s.val, cls, U, s.AZX, s.q_rest)
    S = np.asfortranarray(np.eye(s.q_rest))
    with pytest.raises(ValueError, match="do not match"):
        basis_quadform(P[:-1], X, np.ones(2), np.ones(s.q_rest), S, 0)
    with pytest.raises(ValueError, match="cover"):
        basis_quadform(P, X, np.ones(2), np.ones(s.q_rest), S, 1)
    with pytest.raises(ValueError, match="rank"):  # r = 0 would read beta[0]
        basis_quadform(np.empty(0), np.empty((s.q_rest, 0, X.shape[2])), np.empty(0),
                       np.ones(s.q_rest), S, 0)


def test_objective_rejects_inconsistent_basis_input(sim_df, monkeypatch):
    """objective_blocked validates what its nogil kernels index with."""
    monkeypatch.setattr(_pairs, "MERGE_MAX_LEVEL_PAIRS", -1)
    monkeypatch.setattr(_pairs, "BASIS_PAIR_COST", 1e9)
    _, s = _solver("crossed_scalar", sim_df)
    assert s._basis is not None
    th = np.array([0.7, 0.4])
    want = s.objective(th, False)
    gptr, grow, gval = s._gram
    bad_gptr = gptr.copy()
    bad_gptr[1] = 10**8  # a column pointer running far past the Gram's entries
    for gram, match in (((bad_gptr, grow, gval), "rise from 0"),
                        ((gptr, grow + s.q_rest, gval), "out of range")):
        monkeypatch.setattr(s, "_gram", gram)
        with pytest.raises(ValueError, match=match):
            s.objective(th, False)
    monkeypatch.setattr(s, "_gram", (gptr, grow, gval))
    Tpad = s._Tpad
    monkeypatch.setattr(s, "_Tpad", np.asfortranarray(Tpad[:, :-1]))  # one column short
    with pytest.raises(ValueError, match="sizes"):
        s.objective(th, False)
    monkeypatch.setattr(s, "_Tpad", Tpad)
    assert s.objective(th, False) == want


@pytest.mark.parametrize("kind", ["uint8", "float32"])
@pytest.mark.parametrize("seed", range(6))
def test_narrowed_entries_give_the_same_basis_to_the_bit(seed, kind, monkeypatch):
    """Counts are walked as uint16 rows and uint8 values, other float32 numbers
    as float32 values; P and X are those of the float64 walk exactly."""
    import mixedlm._core._basis as kb

    rng = np.random.default_rng(100 + seed)
    nl, q = int(rng.integers(5, 60)), int(rng.integers(2, 80))
    K = int(rng.integers(1, 6))
    rows = [np.sort(rng.choice(q, size=rng.binomial(q, rng.uniform(0.05, 0.9)),
                               replace=False)) for _ in range(nl)]
    ptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    idx = np.concatenate(rows + [np.empty(0, int)]).astype(np.int32)
    if kind == "uint8":  # counts up to the type's end
        val = rng.integers(0, 256, size=(len(idx), 1)).astype(np.float64)
        val[:2] = 255.0
    else:
        val = (rng.integers(1, 9, size=(len(idx), 1)) * 0.5).astype(np.float64)
    cls = rng.integers(0, K, nl).astype(np.int32)
    U = rng.normal(size=(K, 3))
    AZX = rng.normal(size=(2, nl, 1))
    i16, narrowed = kb._narrow_entries(idx, val, q)
    assert i16.dtype == np.uint16 and narrowed.dtype == np.dtype(kind)
    np.testing.assert_array_equal(narrowed.astype(np.float64), val)
    got = basis_level_pairs(ptr, idx, val, cls, U, AZX, q)
    monkeypatch.setattr(kb, "_narrow_entries", lambda *a: (None, None))
    stored = basis_level_pairs(ptr, idx, val, cls, U, AZX, q)
    np.testing.assert_array_equal(got[0], stored[0])
    np.testing.assert_array_equal(got[1], stored[1])


def test_entries_are_narrowed_only_when_exact():
    from mixedlm._core._basis import _narrow_entries

    idx = np.array([0, 3, 1], dtype=np.int32)
    counts = np.array([[1.0], [2.0], [7.0]])
    assert _narrow_entries(idx, counts, 4)[0].tolist() == [0, 3, 1]
    assert _narrow_entries(idx, counts, 65536)[0] is not None
    assert _narrow_entries(idx, counts, 65537) == (None, None)   # rows need int32
    assert _narrow_entries(idx, counts + 0.1, 4) == (None, None)  # 0.1 is not a float32
    assert _narrow_entries(idx, np.array([[1.0], [np.nan], [2.0]]), 4) == (None, None)
    assert _narrow_entries(idx, np.array([[1.0], [2.0 ** 30 + 1], [2.0]]), 4) == (None, None)
    # values: uint8 for integers in [0, 255], float32 for other float32 numbers
    assert _narrow_entries(idx, counts, 4)[1].dtype == np.uint8
    for float32_only in ([[0.0], [256.0], [2.0]], [[-1.0], [1.0], [2.0]], [[2.5], [1.0], [3.0]]):
        narrowed = _narrow_entries(idx, np.array(float32_only), 4)[1]
        assert narrowed.dtype == np.float32
        assert narrowed[:, 0].tolist() == [v[0] for v in float32_only]
    # inf is a float32 number; 1e39 overflows float32 (no warning: rejected)
    assert _narrow_entries(idx, np.array([[1.0], [np.inf], [2.0]]), 4)[1].dtype == np.float32
    assert _narrow_entries(idx, np.array([[1.0], [1e39], [2.0]]), 4) == (None, None)


def test_basis_level_pairs_rejects_inconsistent_entries():
    """val must be (nnz, 1) and AZX (P, nl, 1): the walk indexes them unchecked."""
    ptr = np.array([0, 2, 3], dtype=np.int64)
    idx = np.array([0, 1, 1], dtype=np.int32)
    val = np.ones((3, 1))
    cls = np.zeros(2, dtype=np.int32)
    U = np.ones((1, 1))
    AZX = np.ones((2, 2, 1))
    P, X = basis_level_pairs(ptr, idx, val, cls, U, AZX, 2)
    # P_0 = v_0 v_0' + v_1 v_1' (lower, by column): [[1, 1], [1, 2]]
    np.testing.assert_array_equal(P, [1.0, 1.0, 2.0])
    for bad_val, bad_azx in ((np.ones((3, 0)), AZX), (np.ones((3, 2)), AZX),
                             (val, np.ones((2, 2, 0))), (val, np.ones((2, 2, 2))),
                             (val, np.ones((2, 3, 1)))):
        with pytest.raises(ValueError, match="inconsistent sizes"):
            basis_level_pairs(ptr, idx, np.ascontiguousarray(bad_val), cls, U,
                              np.ascontiguousarray(bad_azx), 2)
