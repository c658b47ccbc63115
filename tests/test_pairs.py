"""The choice of the level pairs' representation (``mixedlm._pairs``).

Per level, merged by class or on a class basis: which one a model gets, and
that the class-basis path falls back to the exact per-level path, for the
objective and for the gradient, whenever an evaluation's weights fail the
basis check. Agreement of the three paths at fixed theta is tested in
``test_core_blocked.py``.
"""
from __future__ import annotations

import _oracle as oracle
import numpy as np
import pandas as pd
import pytest

import mixedlm
from mixedlm import _classbasis, _pairs
from mixedlm._core._merge import merge_level_pairs

FORMULA = "y ~ 1 + x + (1|g) + (1|h)"


def _crossed(nrows, ng, nh, seed=1):
    """Random crossed design: most first-factor levels meet many h levels."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, nrows)
    h = rng.integers(0, nh, nrows)
    g[:ng], h[:nh] = np.arange(ng), np.arange(nh)
    x = rng.normal(size=nrows)
    y = (0.5 * x + rng.normal(0, 0.7, ng)[g] + rng.normal(0, 0.4, nh)[h]
         + rng.normal(size=nrows))
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g), "h": pd.Categorical(h)})


@pytest.fixture(scope="module")
def big_df():
    # about 12M level pairs (> MERGE_MAX_LEVEL_PAIRS) against 300 x 301 / 2 entries
    # per basis matrix
    return _crossed(250_000, 1_500, 300)


def test_auto_choice_follows_the_level_pairs(big_df, sim_df):
    s = mixedlm.lmm(FORMULA, big_df).solver
    assert _pairs.level_pair_count(s.ptr) > _pairs.MERGE_MAX_LEVEL_PAIRS
    assert s._merged is None and s._basis is not None
    assert 1 <= s._basis.rank <= _pairs.BASIS_MAX_RANK
    assert s.A22.size == 0  # the per-level path's dense A_WW is not built
    # few level pairs: merged by class, no basis
    small = mixedlm.lmm(oracle.MULTI_FACTOR["crossed_scalar"][0], sim_df).solver
    assert small._merged is not None and small._basis is None


def test_basis_only_when_it_pays(sim_df, monkeypatch):
    monkeypatch.setattr(_pairs, "MERGE_MAX_LEVEL_PAIRS", -1)
    # balanced crossed levels: one class, so one basis matrix, cheaper than the pairs
    s = mixedlm.lmm(oracle.MULTI_FACTOR["crossed_scalar"][0], sim_df).solver
    assert s._basis is not None and s._basis.rank == 1
    # nested: 20 level pairs and 8 classes; r q^2 / 2 multiply-adds would cost more
    s = mixedlm.lmm(oracle.MULTI_FACTOR["nested"][0], sim_df).solver
    assert s._merged is None and s._basis is None and s.A22.size > 0
    forced = _pairs.basis_pairs(s, force=True)
    assert forced is not None and forced.Pb.size == forced.rank * s.q_rest * (s.q_rest + 1) // 2
    monkeypatch.setattr(_pairs, "BASIS_MAX_BYTES", 8)  # not even one basis matrix
    assert _pairs.basis_pairs(s, force=True) is None


@pytest.fixture(scope="module")
def models(big_df):
    """The same design on the class-basis path and on the per-level path."""
    basis = mixedlm.lmm(FORMULA, big_df)
    mp = pytest.MonkeyPatch()
    mp.setattr(_pairs, "BASIS_MAX_CLASSES", 0)
    try:
        level = mixedlm.lmm(FORMULA, big_df)
    finally:
        mp.undo()
    assert basis.solver._basis is not None and level.solver._basis is None
    return basis, level


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_fallback_when_the_weights_fail_the_check(models, reml, monkeypatch):
    basis, level = models
    th = np.array([0.7, 0.35])
    g_level = np.empty(2)
    f_level = level.solver.objective(th, reml, g_level)
    monkeypatch.setattr(_classbasis, "CHECK_TOL", -1.0)  # every check fails
    g = np.empty(2)
    f = basis.solver.objective(th, reml, g)
    assert basis.solver._path == "levels"
    # the lazily built dense A_WW equals the one built from the rows
    np.testing.assert_allclose(np.tril(basis.solver.A22), np.tril(level.solver.A22), rtol=1e-13,
                               atol=1e-9)
    assert f == pytest.approx(f_level, rel=1e-13)
    np.testing.assert_allclose(g, g_level, rtol=1e-9)
    monkeypatch.undo()
    f2 = basis.solver.objective(th, reml, g)
    assert basis.solver._path == "basis"
    assert f2 == pytest.approx(f_level, rel=1e-12)
    np.testing.assert_allclose(g, g_level, rtol=1e-9)


def test_gradient_falls_back_alone(models, monkeypatch):
    basis, level = models
    th = np.array([0.4, 1.1])
    g_level, g = np.empty(2), np.empty(2)
    level.solver.objective(th, False, g_level)
    monkeypatch.setattr(_pairs.ClassBasis, "gradient_weights", lambda self, lam: None)
    basis.solver.objective(th, False, g)
    assert basis.solver._path == "basis"
    np.testing.assert_allclose(g, g_level, rtol=1e-9)


def test_fits_agree_across_paths(models):
    basis, level = models
    rb, rl = basis.fit(), level.fit()
    assert rb.objective == pytest.approx(rl.objective, rel=1e-12)
    np.testing.assert_allclose(rb.theta, rl.theta, rtol=1e-6)
    np.testing.assert_allclose(rb.fe_params, rl.fe_params, rtol=1e-8)
    np.testing.assert_allclose(rb.bse, rl.bse, rtol=1e-6)
    for a, b in zip(rb.ranef(uscale=True).values(), rl.ranef(uscale=True).values()):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float),
                                   rtol=1e-5, atol=1e-8)


@pytest.fixture(scope="module")
def reduced():
    """A design whose class basis is truly reduced (r < K): 40k rows, 400 x 120
    levels, row counts 60-150 per first-factor level; the same on the per-level path."""
    df = _crossed(40_000, 400, 120)
    mp = pytest.MonkeyPatch()
    mp.setattr(_pairs, "MERGE_MAX_LEVEL_PAIRS", -1)
    try:
        basis = mixedlm.lmm(FORMULA, df)
        mp.setattr(_pairs, "BASIS_MAX_CLASSES", 0)
        level = mixedlm.lmm(FORMULA, df)
    finally:
        mp.undo()
    return basis, level


def test_reduced_basis_over_the_whole_theta_range(reduced):
    """From lam = 0 to far beyond any fit, ML and REML: the basis path (or, where
    its check fails, the exact path it falls back to) gives the per-level
    answer; at overflowing theta, inf as the per-level path, never NaN."""
    basis, level = reduced
    K = len(basis.solver._basis.a11)
    assert 1 < basis.solver._basis.rank < K
    on_basis = 0
    for reml in (False, True):
        for l1 in [0.0, 1e-200, 1e-6, 1e-3, 0.1, 1.0, 10.0, 1e4, 1e8, 1e160]:
            for l2 in [1e-3, 1.0, 100.0]:
                th = np.array([l1, l2])
                gb, gl = np.empty(2), np.empty(2)
                fb = basis.solver.objective(th, reml, gb)
                fl = level.solver.objective(th, reml, gl)
                on_basis += basis.solver._path == "basis"
                if not np.isfinite(fl):
                    assert fb == fl, (reml, l1, l2, fb, fl)
                    continue
                assert fb == pytest.approx(fl, rel=1e-11), (reml, l1, l2)
                np.testing.assert_allclose(gb, gl, rtol=1e-7, atol=1e-9 * abs(fl))
    assert on_basis >= 40  # all but the underflowing and overflowing lam1


# -- the merged stream's runs and storage ---------------------------------------
def test_class_runs_by_hand():
    """Runs break where the class changes and at every column start."""
    pptr = np.array([0, 3, 3, 6], dtype=np.int64)  # column 1 is empty
    pcls = np.array([2, 2, 0, 0, 1, 1], dtype=np.int32)
    rcol, rptr, rcls = _pairs.class_runs(pptr, pcls)
    # column 0: [2, 2] [0]; column 1: none; column 2: [0] [1, 1] (the 0 after
    # column 0's 0 is a new run: it starts a column)
    np.testing.assert_array_equal(rptr, [0, 2, 3, 4, 6])
    np.testing.assert_array_equal(rcls, [2, 0, 0, 1])
    np.testing.assert_array_equal(rcol, [0, 2, 2, 4])
    assert rptr.dtype == rcol.dtype == np.int64 and rcls.dtype == np.int32
    rcol, rptr, rcls = _pairs.class_runs(np.zeros(3, np.int64), np.empty(0, np.int32))
    np.testing.assert_array_equal(rcol, [0, 0, 0])
    np.testing.assert_array_equal(rptr, [0])
    assert rcls.size == 0


@pytest.mark.parametrize("case", ["crossed_scalar", "three_factors", "nested"])
def test_class_runs_tile_the_merged_stream(case, sim_df):
    """On real merged pairs: each run is one class inside one column, and the
    runs cover the entries in order."""
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df, solver="blocked")
    s = m.solver
    a11, cls = _pairs.weight_classes(s.A11)
    pptr, _, pcls, *_ = merge_level_pairs(s.ptr, s.idx, s.val, cls, len(a11), s.AZX,
                                          s.q_rest, *s._gram)
    mp = s._merged
    rcol, rptr, rcls = mp.rcol, mp.rptr, mp.rcls
    np.testing.assert_array_equal(mp.pptr, pptr)
    assert rptr[0] == 0 and rptr[-1] == len(pcls) and np.all(np.diff(rptr) > 0)
    np.testing.assert_array_equal(rptr[rcol], pptr)  # no run crosses a column
    np.testing.assert_array_equal(np.repeat(rcls, np.diff(rptr)), pcls)
    # maximal: neighbouring runs of one column differ in class
    same_col = np.isin(rptr[1:-1], pptr, invert=True)
    assert np.all(rcls[1:][same_col] != rcls[:-1][same_col])


def test_narrow_merged_only_when_exact():
    """uint16 rows up to 65,536 columns; float32 values only when every value
    converts exactly (-0.0 keeps its sign; inf and float32 subnormals
    convert; 0.1, 1e39, 2^24 + 1, 2^-150 and NaN keep float64, with no
    warning)."""
    rows = np.array([0, 5, 65535], dtype=np.int32)
    counts = np.array([1.0, 2.0, 3281.0])
    x = np.array([[4.0, 7.0], [1.0, 16777216.0]])
    r, v, xv = _pairs.narrow_merged(rows, counts, x, 65536)
    assert (r.dtype, v.dtype, xv.dtype) == (np.uint16, np.float32, np.float32)
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(v, counts)
    np.testing.assert_array_equal(xv, x)
    assert xv.flags.c_contiguous
    r, _, _ = _pairs.narrow_merged(rows, counts, x, 65537)
    assert r.dtype == np.int32
    with np.errstate(all="raise"):
        exact = np.array([1.0, -0.0, np.inf, -np.inf, 2.0**-149, 2.0**-126])
        _, v, _ = _pairs.narrow_merged(rows, exact, x, 3)
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v.astype(np.float64), exact)
        assert np.signbit(v[1])
        for bad in (0.1, 1e39, 16777217.0, 2.0**-150, np.nan):
            _, v, xv = _pairs.narrow_merged(rows, np.array([1.0, bad]), np.array([[bad]]), 3)
            assert v.dtype == xv.dtype == np.float64, bad


@pytest.mark.parametrize("rows16", [True, False], ids=["uint16", "int32"])
@pytest.mark.parametrize("vals32", [True, False], ids=["f32", "f64"])
@pytest.mark.parametrize("x32", [True, False], ids=["x32", "x64"])
def test_narrowed_stream_gives_the_same_bits(rows16, vals32, x32, sim_df):
    """The kernels widen the narrowed stream as they read it: objective and
    gradient are bit-identical in every storage of the rows, the values and
    the [X y] rows (integer-valued x and y, so that every part narrows)."""
    df = sim_df.assign(x=np.round(sim_df["x"] * 4), y=np.round(sim_df["y"] * 8))
    m = mixedlm.lmm("y ~ 1 + x + (1|g) + (1|h)", df, solver="blocked")
    s = m.solver
    narrow = s._merged
    assert (narrow.prow.dtype, narrow.pval.dtype, narrow.xval.dtype) == (
        np.uint16, np.float32, np.float32)
    full = narrow._replace(prow=narrow.prow.astype(np.int32),
                           pval=narrow.pval.astype(np.float64),
                           xval=narrow.xval.astype(np.float64))
    mixed = full._replace(prow=(narrow if rows16 else full).prow,
                          pval=(narrow if vals32 else full).pval,
                          xval=(narrow if x32 else full).xval)
    rng = np.random.default_rng(5)
    for th in [m.theta0(), oracle.random_theta(m, rng), oracle.random_theta(m, rng)]:
        out = []
        for merged in (mixed, full):
            s._merged = merged
            g = np.empty(m.ntheta)
            out.append((s.objective(th, False, g), g))
        s._merged = narrow
        assert out[0][0] == out[1][0]
        np.testing.assert_array_equal(out[0][1], out[1][1])


def test_continuous_x_keeps_its_rows_wide(sim_df):
    """A continuous covariate: the pairs (counts) narrow, the [X y] rows do not."""
    m = mixedlm.lmm("y ~ 1 + x + (1|g) + (1|h)", sim_df, solver="blocked")
    mp = m.solver._merged
    assert (mp.prow.dtype, mp.pval.dtype, mp.xval.dtype) == (np.uint16, np.float32,
                                                             np.float64)
    m2 = mixedlm.lmm("y ~ 1 + x + (1|g) + (1|h)", sim_df, solver="blocked")
    m2.solver._merged = mp._replace(prow=mp.prow.astype(np.int32),
                                    pval=mp.pval.astype(np.float64))
    th = np.array([0.7, 0.3])
    assert m.objective(th) == m2.objective(th)
