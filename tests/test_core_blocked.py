"""The blocked dense solver (``_core._blocked``) for several grouping factors.

Objective values at seeded random theta (feasible: negative off-diagonals,
some diagonals exactly 0) against the dense NumPy oracle, ML and REML, for
nested, crossed, vector-valued (leading and non-leading blocks), three-factor
and interaction designs; the gradient where the solver offers one.
"""
from __future__ import annotations

import _oracle as oracle
import numpy as np
import pytest

import mixedlm
from mixedlm import _pairs

RTOL = 1e-10  # objective vs the oracle: both are direct factorizations
GRAD_RTOL, GRAD_ATOL = 1e-5, 1e-6

MULTI_IDS = list(oracle.MULTI_FACTOR)


@pytest.fixture(params=MULTI_IDS)
def multi_model(request, sim_df):
    formula, leading, rest = oracle.MULTI_FACTOR[request.param]
    m = mixedlm.lmm(formula, sim_df, solver="blocked")
    assert m.solver.name == "blocked"
    # the design really exercises what its id claims
    assert m.blocks[0].group == leading
    assert [(b.group, b.k) for b in m.blocks[1:]] == rest
    return m


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_objective_matches_oracle(multi_model, reml):
    m = multi_model
    Z = oracle.dense_z(m)
    for i, th in enumerate(oracle.theta_set(m, seed=4000 + m.ntheta)):
        got = m.objective(th, reml=reml)
        want = oracle.objective(m, th, reml, Z=Z)
        assert got == pytest.approx(want, rel=RTOL), (i, th.tolist(), got, want)


def test_block_templates_follow_lme4_theta_order(multi_model):
    m = multi_model
    rng = np.random.default_rng(11)
    for _ in range(3):
        th = oracle.random_theta(m, rng, zero_diag=0)
        for reml in (False, True):
            a = oracle.objective(m, th, reml, source="blocks")
            b = oracle.objective(m, th, reml, source="terms")
            assert a == pytest.approx(b, rel=1e-12)


def test_repeated_evaluation_is_stateless(multi_model):
    m = multi_model
    rng = np.random.default_rng(5)
    t1, t2 = oracle.random_theta(m, rng), oracle.random_theta(m, rng, zero_diag=1)
    first = m.objective(t1)
    m.objective(t2, reml=True)
    assert m.objective(t1) == first


@pytest.mark.parametrize("case", MULTI_IDS)
def test_auto_picks_blocked_for_small_designs(case, sim_df):
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df)
    assert m.solver.name == "blocked"


@pytest.mark.parametrize("case", [
    "three_mixed", "nested", "crossed_vector_leading",
])
def test_solution_matches_oracle(case, sim_df):
    """beta, u (every block) and pwrss from the blocked factor at a random theta."""
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df, solver="blocked")
    th = oracle.random_theta(m, np.random.default_rng(8))
    m.objective(th)
    beta, us, _, pwrss = m.solver.solution(th)
    o = oracle.solve(m, th)
    np.testing.assert_allclose(beta, o.beta, rtol=1e-9, atol=1e-12)
    assert pwrss == pytest.approx(o.pwrss, rel=1e-10)
    for got, want in zip(us, o.u_blocks):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------
# Gradient: checked where offered, otherwise a clear NotImplementedError
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("case", MULTI_IDS)
def test_gradient_if_available(case, reml, sim_df):
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df, solver="blocked")
    th = oracle.random_theta(m, np.random.default_rng(21))
    if not m.solver.has_gradient:
        with pytest.raises(NotImplementedError, match="gradient"):
            m.gradient(th, reml=reml)
        return
    rng = np.random.default_rng(31 + m.ntheta)
    thetas = [m.theta0(), th] + [oracle.random_theta(m, rng) for _ in range(2)]
    for j in np.flatnonzero(m.lower == 0.0):  # each diagonal on the boundary once
        t = oracle.random_theta(m, rng)
        t[j] = 0.0
        thetas.append(t)
    for t in thetas:
        np.testing.assert_allclose(m.gradient(t, reml=reml), oracle.fd_gradient(m, t, reml),
                                   rtol=GRAD_RTOL, atol=GRAD_ATOL,
                                   err_msg=f"theta={t.tolist()}")


# ---------------------------------------------------------------------------
# An explicit solver="blocked" with a single grouping factor
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(oracle.SINGLE_FACTOR))
def test_blocked_single_factor_matches_oracle(case, sim_df):
    m = mixedlm.lmm(oracle.SINGLE_FACTOR[case], sim_df, solver="blocked")
    for th in oracle.theta_set(m, seed=77):
        for reml in (False, True):
            assert m.objective(th, reml) == pytest.approx(oracle.objective(m, th, reml),
                                                          rel=RTOL)


# ---------------------------------------------------------------------------
# Class-merged level pairs (``_core._merge``): the scalar fast path's input
# ---------------------------------------------------------------------------

SCALAR_CASES = ["nested", "crossed_scalar", "crossed_small", "three_factors",
                "interaction_crossed", "no_fixed"]


def _scalar_model(case, sim_df, slope=False):
    formula = oracle.MULTI_FACTOR[case][0]
    if slope:  # a scalar slope term first: A11 = sum x^2, a class per level
        formula = formula.replace("(1|g)", "(0 + x|g)")
    m = mixedlm.lmm(formula, sim_df, solver="blocked")
    assert m.solver.has_gradient
    return m


@pytest.mark.parametrize("case", SCALAR_CASES)
def test_merged_pairs_match_dense_class_sums(case, sim_df):
    """Every merged entry is the sum over its class's levels of the level products."""
    m = _scalar_model(case, sim_df)
    s = m.solver
    assert s._merged is not None
    mp = s._merged
    pptr, prow, pval, xptr, xcls, xval, a11, AXr, XX = mp[:9]
    pcls = np.repeat(mp.rcls, np.diff(mp.rptr))  # the class of each entry
    q, nl = s.q_rest, len(s.ptr) - 1
    Zr = oracle.dense_z(m)[:, nl:]  # the rest columns (the first factor is scalar)
    gram = np.zeros((q, q))
    for c in range(q):  # the stream's extra class: Z_rest'Z_rest, lower triangle
        e = slice(pptr[c], pptr[c + 1])
        mine = pcls[e] == len(a11)
        np.add.at(gram[:, c], prow[e][mine], pval[e][mine])
    np.testing.assert_allclose(gram, np.tril(Zr.T @ Zr), rtol=1e-13, atol=1e-12)
    Xy = np.column_stack([m.X, m.y])
    np.testing.assert_allclose(AXr, Zr.T @ Xy, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(XX, Xy.T @ Xy, rtol=1e-12, atol=1e-10)
    cls = np.searchsorted(a11, s.A11[:, 0, 0])
    V = np.zeros((nl, q))  # dense level x rest-column cross products
    for lv in range(nl):
        sl = slice(s.ptr[lv], s.ptr[lv + 1])
        V[lv, s.idx[sl]] = s.val[sl, 0]
    for k in range(len(a11)):
        Vk = V[cls == k]
        want_pairs = np.tril(Vk.T @ Vk)
        want_x = s.AZX[:, cls == k, 0] @ Vk  # (P, q)
        got_pairs, got_x = np.zeros((q, q)), np.zeros_like(want_x)
        for c in range(q):
            e = slice(pptr[c], pptr[c + 1])
            mine = pcls[e] == k
            np.add.at(got_pairs[:, c], prow[e][mine], pval[e][mine])
            ex = slice(xptr[c], xptr[c + 1])
            got_x[:, c] = xval[ex][xcls[ex] == k].sum(axis=0)
        np.testing.assert_allclose(got_pairs, want_pairs, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(got_x, want_x, rtol=1e-13, atol=1e-12)
    assert np.all(np.diff(pptr) >= 0) and pptr[-1] == len(prow)
    assert np.all(prow >= np.repeat(np.arange(q), np.diff(pptr)))  # lower triangle


def _path_model(case, sim_df, slope, path, monkeypatch):
    """The model built with its level pairs held per level, merged, or on a basis."""
    monkeypatch.setattr(_pairs, "MERGE_CLASS_FRACTION", np.inf if path == "merged" else 0.5)
    monkeypatch.setattr(_pairs, "MERGE_MAX_LEVEL_PAIRS", -1 if path != "merged" else 8_000_000)
    monkeypatch.setattr(_pairs, "BASIS_MAX_CLASSES", 4096 if path == "basis" else 0)
    monkeypatch.setattr(_pairs, "BASIS_PAIR_COST", 1e9)  # the basis whenever it exists
    return _scalar_model(case, sim_df, slope)


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("slope", [False, True], ids=["intercept", "slope"])
@pytest.mark.parametrize("case", SCALAR_CASES)
def test_pair_paths_agree(case, slope, reml, sim_df, monkeypatch):
    """Objective, gradient and solution on the per-level, merged and class-basis
    paths (``_pairs``), and the objective against the oracle."""
    level = _path_model(case, sim_df, slope, "levels", monkeypatch)
    assert level.solver._merged is None and level.solver._basis is None
    assert level.solver.A22.size > 0
    if slope and level.solver.first.group == "g":  # A11 = sum x^2: a class per level
        assert _scalar_model(case, sim_df, slope).solver._merged is None
    merged = _path_model(case, sim_df, slope, "merged", monkeypatch)
    assert merged.solver._merged is not None and merged.solver.A22.size == 0
    basis = _path_model(case, sim_df, slope, "basis", monkeypatch)
    has_basis = basis.solver._basis is not None
    # intercept first terms have few classes (row counts): the basis must exist
    assert has_basis or slope
    rng = np.random.default_rng(99)
    for th in [level.theta0(), oracle.random_theta(level, rng), oracle.random_theta(level, rng)]:
        g2 = np.empty(level.ntheta)
        f2 = level.solver.objective(th, reml, g2)
        assert level.solver._path == "levels"
        assert f2 == pytest.approx(oracle.objective(level, th, reml), rel=RTOL)
        b2, u2, _, r2 = level.solver.solution(th)
        for other, path in ((merged, "merged"), (basis, "basis" if has_basis else "levels")):
            g1 = np.empty(level.ntheta)
            f1 = other.solver.objective(th, reml, g1)
            assert other.solver._path == path
            assert f1 == pytest.approx(f2, rel=1e-12)
            np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)
            b1, u1, _, r1 = other.solver.solution(th)
            np.testing.assert_allclose(b1, b2, rtol=1e-10, atol=1e-12)
            assert r1 == pytest.approx(r2, rel=1e-12)
            for a, b in zip(u1, u2):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_merge_and_objective_reject_inconsistent_input(sim_df):
    """The kernels index without bounds checks: their inputs are validated once."""
    from mixedlm._core._merge import merge_level_pairs

    s = _scalar_model("crossed_scalar", sim_df).solver
    nl = len(s.ptr) - 1
    bad_cls = np.zeros(nl, dtype=np.int32)
    bad_cls[-1] = 1  # class 1 of nclass = 1
    with pytest.raises(ValueError, match="class"):
        merge_level_pairs(s.ptr, s.idx, s.val, bad_cls, 1, s.AZX, s.q_rest, *s._gram)
    with pytest.raises(ValueError, match="rest columns"):
        merge_level_pairs(s.ptr, s.idx, s.val, np.zeros(nl, dtype=np.int32), 1, s.AZX,
                          s.q_rest - 1, *s._gram)
    zeros = np.zeros(nl, dtype=np.int32)
    for AZX in (s.AZX[:, :-1], np.zeros(s.AZX.shape[:2] + (0,)), np.zeros(s.AZX.shape[:2] + (2,))):
        with pytest.raises(ValueError, match="sizes"):  # AZX must be (P, nl, 1)
            merge_level_pairs(s.ptr, s.idx, s.val, zeros, 1, np.ascontiguousarray(AZX),
                              s.q_rest, *s._gram)
    with pytest.raises(ValueError, match="sizes"):  # val must be (nnz, 1)
        merge_level_pairs(s.ptr, s.idx, np.zeros((len(s.idx), 0)), zeros, 1, s.AZX,
                          s.q_rest, *s._gram)
    merged = s._merged
    s._merged = merged._replace(AXr=merged.AXr[:-1])  # AXr one row short
    try:
        with pytest.raises(ValueError, match="sizes"):
            s.objective(np.ones(2), False)
    finally:
        s._merged = merged
    assert np.isfinite(s.objective(np.ones(2), False))


def test_objective_and_quadform_reject_bad_class_runs(sim_df):
    """Runs that cross a column, miss entries or name a class past the weights
    are refused by the objective and by the gradient's quadratic form (their
    C loops read the runs unchecked)."""
    from mixedlm._core._gradient import merged_quadform

    s = _scalar_model("crossed_scalar", sim_df).solver
    merged = s._merged
    pptr, prow, pval = merged.pptr, merged.prow, merged.pval
    rcol, rptr, rcls = merged.rcol, merged.rptr, merged.rcls
    assert len(rcls) > 2 and np.all(np.diff(rcol) > 0)
    shifted = rptr.copy()
    shifted[rcol[1]] += 1  # column 1's first run starts one entry late
    wrong_cls = rcls.copy()
    wrong_cls[0] = len(merged.a11) + 1  # one past the stream's extra (Gram) class
    negative = rcls.copy()
    negative[-1] = -1
    cases = {"crossing": (rcol, shifted, rcls, "tile"),
             "class": (rcol, rptr, wrong_cls, "out of range"),
             "negative class": (rcol, rptr, negative, "out of range"),
             "short": (rcol[:-1], rptr, rcls, "tile"),
             "dropped run": (rcol, rptr[:-1], rcls[:-1], "tile")}
    S = np.asfortranarray(np.eye(s.q_rest))
    w = np.ones(len(merged.a11) + 1)
    want = merged_quadform(pptr, prow, pval, rcol, rptr, rcls, w, np.ones(s.q_rest), S)
    # with Sinv = I and unit scales the form sums the diagonal entries, pval[row == c]
    diag = prow == np.repeat(np.arange(s.q_rest), np.diff(pptr))
    assert want == pytest.approx(float(np.sum(pval[diag].astype(np.float64))), rel=1e-12)
    bad_x = merged.xcls.copy()
    bad_x[-1] = len(merged.a11)  # [X y] rows have no Gram class
    for name, (*runs, message) in cases.items():
        for bad in (merged._replace(rcol=runs[0], rptr=runs[1], rcls=runs[2]),) + (
                (merged._replace(xcls=bad_x),) if name == "class" else ()):
            s._merged = bad
            try:
                with pytest.raises(ValueError, match=message):
                    s.objective(np.ones(2), False)
            finally:
                s._merged = merged
        with pytest.raises(ValueError, match="runs"):
            merged_quadform(pptr, prow, pval, *runs, w, np.ones(s.q_rest), S)
    with pytest.raises(ValueError, match="dtype"):  # rows must be int32 or uint16
        merged_quadform(pptr, prow.astype(np.int64), pval, rcol, rptr, rcls, w,
                        np.ones(s.q_rest), S)
    assert np.isfinite(s.objective(np.ones(2), False))


def test_gradient_kernels_reject_inconsistent_input(sim_df):
    """``_core._gradient``'s kernels index without bounds checks."""
    from mixedlm._core._gradient import level_matvec, level_quadform, residual_cross

    s = _scalar_model("crossed_scalar", sim_df).solver
    x = np.ones(s.q_rest)
    want = level_matvec(s.ptr, s.idx, s.val, x, s.q_rest)
    np.testing.assert_allclose(want, [s.val[s.ptr[lv]:s.ptr[lv + 1], 0].sum()
                                      for lv in range(len(s.ptr) - 1)])
    bad = s.ptr.copy()
    bad[1] = 10**8  # pointers that fall back: would read far past idx
    for ptr in (bad, np.empty(0, np.int64)):
        with pytest.raises(ValueError, match="pointers"):
            level_matvec(ptr, s.idx, s.val, x, s.q_rest)
    with pytest.raises(ValueError, match="q_rest entries"):
        level_matvec(s.ptr, s.idx, s.val, x[:-1], s.q_rest)
    S = np.asfortranarray(np.eye(s.q_rest))
    with pytest.raises(ValueError, match="do not match"):
        level_quadform(s.ptr, s.idx, np.ones(len(s.idx) - 1), np.empty((0, 1)), S, s.q_rest)
    nl, p = len(s.ptr) - 1, s.p
    args = [s.A11, s.AZX, s.ptr, s.idx, s.val, *s._gram, s._AXr, np.zeros(p),
            np.zeros(nl), np.zeros(s.q_rest)]
    residual_cross(*args)
    gptr, grow, gval = s._gram
    bad_rows = [*args[:5], gptr, grow + s.q_rest, gval, *args[8:]]
    with pytest.raises(ValueError, match="out of range"):
        residual_cross(*bad_rows)
    args[-1] = np.zeros(s.q_rest - 1)
    with pytest.raises(ValueError, match="sizes"):
        residual_cross(*args)


# -- the ML gradient from the inverse factor (``_gradient.level_normsq``) --------
@pytest.mark.parametrize("m", [1, 5, 32, 64, 65, 140])
def test_level_normsq_matches_numpy(m):
    """sum_l wl ||tril(X) (rscale * v_l)||^2 and the squared columns of tril(X),
    on blocks that end inside a 64-row block and levels that reach the
    diagonal block; X's strict upper triangle (garbage here) is not read."""
    from mixedlm._core._gradient import level_normsq

    rng = np.random.default_rng(m)
    nl = 40
    ptr, idx, val = oracle.random_levels(rng, nl, m, per_level=6)
    wl, rscale = rng.uniform(0.1, 2.0, nl), rng.uniform(0.5, 1.5, m)
    ld = m + 3  # a padded leading dimension, as the solver's buffers have
    X = np.asfortranarray(rng.normal(size=(ld, m)))  # rows past m are not read
    L = np.tril(X[:m])
    V = np.zeros((nl, m))
    for lv in range(nl):
        V[lv, idx[ptr[lv]:ptr[lv + 1]]] = val[ptr[lv]:ptr[lv + 1], 0]
    want = float(np.sum(wl * np.sum((L @ (rscale * V).T) ** 2, axis=0)))
    total, diag = level_normsq(ptr, idx, val, wl, rscale, X, m)
    assert total == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(diag, np.sum(L ** 2, axis=0), rtol=1e-13)
    with pytest.raises(ValueError, match="do not match"):
        level_normsq(ptr, idx, np.ascontiguousarray(np.c_[val, val]), wl, rscale, X, m)
    with pytest.raises(ValueError, match="do not match"):
        level_normsq(ptr, idx, val, wl[:-1], rscale, X, m)
    if len(idx):  # an entry at column idx.max() of a smaller m
        with pytest.raises(ValueError, match="out of range"):
            level_normsq(ptr, idx, val, wl, rscale, X, int(idx.max()))


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("case", ["crossed_scalar", "three_factors", "interaction_crossed"])
def test_gradient_from_the_inverse_factor(case, reml, sim_df):
    """The merged path's gradient read off inv(L11) (``level_normsq``) against
    the one read off inv(S) (lauum + ``merged_quadform``); REML always forms
    inv(S)."""
    m = _scalar_model(case, sim_df)
    s = m.solver
    assert s._merged is not None and not s._normsq  # too small for it to pay
    rng = np.random.default_rng(3)
    for th in [m.theta0(), oracle.random_theta(m, rng), oracle.random_theta(m, rng)]:
        out = {}
        for use in (False, True):
            s._normsq = use
            g = np.empty(m.ntheta)
            out[use] = (s.objective(th, reml, g), g)
            assert s._gram_formed == (reml or not use)
        assert out[True][0] == out[False][0]
        np.testing.assert_allclose(out[True][1], out[False][1], rtol=1e-10, atol=1e-10)
        s._normsq = False


def test_normsq_pays_by_its_work():
    """Chosen when NORMSQ_COST x the kernel's multiply-adds (64 rows per entry
    per block from the entry's block on) < q^3 / 6."""
    q = 1128  # 18 blocks of 64 rows: an entry in block 0 costs 18 x 64 = 1152
    assert _pairs.normsq_work(np.array([0, 63, 64, 1127], np.int32), q) == 1152 * 2 + 1088 + 64
    # InstEval-like: 73k entries spread over the columns pay
    spread = np.random.default_rng(0).integers(0, q, 73_421).astype(np.int32)
    assert _pairs.normsq_pays(spread, q)
    # entries all in the first block reach every row: the boundary is at
    # q^3 / 6 / (NORMSQ_COST * 1152) entries, about 83k
    edge = q ** 3 / 6 / (_pairs.NORMSQ_COST * 1152)
    assert _pairs.normsq_pays(np.zeros(int(edge * 0.97), np.int32), q)
    assert not _pairs.normsq_pays(np.zeros(int(edge * 1.03), np.int32), q)
    assert not _pairs.normsq_pays(np.zeros(20, np.int32), 5)


def test_level_normsq_rejects_unsorted_levels_and_takes_any_weights():
    """Columns must ascend within a level (the kernel stops at the block's
    end); a negative weight is a value like any other, not an error code."""
    from mixedlm._core._gradient import level_normsq

    ptr = np.array([0, 2], np.int64)
    X = np.asfortranarray(np.tril(np.ones((4, 4))))
    val, rs = np.ones((2, 1)), np.ones(4)
    with pytest.raises(ValueError, match="ascend"):
        level_normsq(ptr, np.array([3, 1], np.int32), val, np.ones(1), rs, X, 4)
    total, _ = level_normsq(ptr, np.array([1, 3], np.int32), val, -np.ones(1), rs, X, 4)
    # X (e1 + e3) = rows 1..3 get 1 from column 1, row 3 also 1 from column 3: 1 + 1 + 4
    assert total == -6.0


def test_fit_with_the_inverse_factor_gradient(sim_df):
    """A whole fit on the ``level_normsq`` gradient reaches the same optimum as
    on inv(S) (the test designs are too small for it to be chosen)."""
    fits = []
    for use in (False, True):
        m = _scalar_model("three_factors", sim_df)
        m.solver._normsq = use
        fits.append(m.fit())
    assert fits[1].objective == pytest.approx(fits[0].objective, rel=1e-12)
    np.testing.assert_allclose(fits[1].theta, fits[0].theta, rtol=1e-5, atol=1e-7)


def test_level_normsq_work_is_checked():
    """The caller's scratch must hold NORMSQ_WORK_ROWS doubles per column."""
    from mixedlm._core._gradient import NORMSQ_WORK_ROWS, level_normsq

    ptr, idx = np.array([0, 1], np.int64), np.array([0], np.int32)
    X = np.asfortranarray(np.eye(3))
    args = (ptr, idx, np.ones((1, 1)), np.ones(1), np.ones(3), X, 3)
    total, _ = level_normsq(*args, np.empty(NORMSQ_WORK_ROWS * 3))
    assert total == 1.0
    with pytest.raises(ValueError, match="work needs"):
        level_normsq(*args, np.empty(NORMSQ_WORK_ROWS * 3 - 1))
