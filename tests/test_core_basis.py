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

CASES = ["crossed_scalar", "crossed_small", "three_factors", "interaction_crossed",
         "no_fixed"]


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
