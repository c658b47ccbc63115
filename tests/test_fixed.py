"""mixedlm._fixed: the fixed-effects matrix, its fast path and rank handling."""
import formulaic
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedlm
import mixedlm._fixed
from mixedlm._fixed import SPARSE_X_MAX_DENSITY, fixed_matrix, full_rank_columns


@pytest.fixture
def df():
    rng = np.random.default_rng(3)
    return pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                         "x2": rng.integers(0, 5, size=40),
                         "g": pd.Categorical(rng.choice(list("abc"), size=40))})


@pytest.mark.parametrize("fixed", ["y ~ 1 + x", "y ~ x", "y ~ 0 + x", "y ~ -1 + x + x2",
                                   "y ~ 1", "y ~ x2 + x"])
def test_fast_path_equals_formulaic(fixed, df):
    """Plain numeric sums are built without formulaic, with formulaic's names and values."""
    y = df["y"].to_numpy()
    Xy, names = fixed_matrix(fixed, df, y)
    mm = formulaic.model_matrix(fixed.split("~", 1)[1], df)
    assert names == [str(c) for c in mm.columns]
    np.testing.assert_array_equal(Xy[:, :-1], np.asarray(mm, dtype=float))
    np.testing.assert_array_equal(Xy[:, -1], y)
    assert Xy.flags.f_contiguous


def test_formulaic_path_for_factors(df):
    Xy, names = fixed_matrix("y ~ 1 + x*g", df, df["y"].to_numpy())
    assert names == ["Intercept", "x", "g[T.b]", "g[T.c]", "x:g[T.b]", "x:g[T.c]"]
    assert Xy.shape == (40, 7)


def test_full_rank_columns_keeps_earliest():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    X = np.column_stack([np.ones(30), x, 2 * x, rng.normal(size=30), x + 1])
    assert full_rank_columns(X).tolist() == [0, 1, 3]


def test_fit_same_with_and_without_fast_path(df):
    g = np.repeat(np.arange(8), 5)
    effect = np.random.default_rng(1).normal(scale=2.0, size=8)[g]
    df = df.assign(g=pd.Categorical(g), y=df["y"] + effect)
    fast = mixedlm.lmm("y ~ 1 + x + (1|g)", df).fit()
    slow = mixedlm.lmm("y ~ 1 + {x * 1} + (1|g)", df).fit()  # formulaic path
    assert fast.objective == pytest.approx(slow.objective, rel=1e-12)
    np.testing.assert_allclose(fast.fixef.to_numpy(), slow.fixef.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize("eps, kept", [(1e-2, [0, 1, 2]), (1e-5, [0, 1, 2]),
                                       (1e-9, [0, 1]), (0.0, [0, 1])])
def test_full_rank_columns_near_collinear(eps, kept):
    """Both routes (the Gram shortcut above GRAM_CLEAR, the QR pass below it)
    apply lme4's rule: drop a column whose residual is under 1e-7 of its norm."""
    rng = np.random.default_rng(5)
    a, b, noise = rng.standard_normal((3, 500))
    X = np.column_stack([a, 1e6 * b, a - 2.0 * b + eps * noise])
    assert full_rank_columns(X).tolist() == kept


# -- [X y] held sparse --------------------------------------------------------
def _crossed(seed=2, n=600):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, n)
    b = rng.integers(0, 5, n)
    s = rng.integers(0, 40, n)
    d = rng.integers(0, 15, n)
    x = rng.normal(size=n)
    y = (0.3 * a - 0.2 * b + rng.normal(size=40)[s] + 0.6 * rng.normal(size=15)[d]
         + 0.7 * rng.normal(size=40)[s] * x + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x,
                         "a": pd.Categorical(a), "b": pd.Categorical(b),
                         "s": pd.Categorical(s), "d": pd.Categorical(d)})


def test_mostly_zero_x_is_held_sparse():
    """Dummy interactions: CSC with y as its last column, values as formulaic's."""
    df = _crossed()
    Xy, names = fixed_matrix("y ~ 1 + a*b", df, df["y"].to_numpy())
    assert sp.issparse(Xy) and Xy.format == "csc" and Xy.shape == (600, 31)
    mm = formulaic.model_matrix("1 + a*b", df)
    assert names == [str(c) for c in mm.columns]
    np.testing.assert_array_equal(Xy.toarray()[:, :-1], np.asarray(mm, dtype=float))
    np.testing.assert_array_equal(Xy.toarray()[:, -1], df["y"].to_numpy())
    assert Xy[:, :-1].nnz <= SPARSE_X_MAX_DENSITY * 600 * 30
    # a numeric covariate with a factor: mostly nonzero, so dense
    Xd, _ = fixed_matrix("y ~ 1 + x + a", df, df["y"].to_numpy())
    assert isinstance(Xd, np.ndarray) and Xd.flags.f_contiguous
    np.testing.assert_array_equal(Xd[:, :-1], np.asarray(formulaic.model_matrix(
        "1 + x + a", df), dtype=float))


@pytest.mark.parametrize("formula, solver", [
    ("y ~ 1 + a*b + (1|s)", "auto"),                     # dense solver
    ("y ~ 1 + a*b + (1|s) + (1|d)", "auto"),             # blocked, merged pairs
    ("y ~ 1 + a*b + (1 + x|s) + (1|d)", "blocked"),      # blocked, per-level path
    ("y ~ 1 + a*b + (1|s) + (1|d)", "cholmod"),
])
def test_fit_same_with_sparse_and_dense_x(formula, solver, monkeypatch):
    df = _crossed()
    sparse_m = mixedlm.lmm(formula, df, solver=solver)
    assert sp.issparse(sparse_m._Xy)
    monkeypatch.setattr(mixedlm._fixed, "SPARSE_X_MAX_DENSITY", 0.0)
    dense_m = mixedlm.lmm(formula, df, solver=solver)
    assert isinstance(dense_m._Xy, np.ndarray)
    np.testing.assert_array_equal(sparse_m.X, dense_m.X)
    assert sparse_m.X.flags.f_contiguous and sparse_m.p == dense_m.p == 30
    for reml in (False, True):
        rs, rd = sparse_m.fit(reml=reml), dense_m.fit(reml=reml)
        # the same objective; theta as far as the optimizers resolve it (the
        # cross products differ in rounding, and BOBYQA's path with them)
        assert rs.objective == pytest.approx(rd.objective, rel=1e-12)
        np.testing.assert_allclose(rs.theta, rd.theta, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(rs.fixef.to_numpy(), rd.fixef.to_numpy(), atol=1e-6)
        np.testing.assert_allclose(rs.fitted, rd.fitted, atol=1e-5)
        assert sparse_m.objective(rd.theta, reml) == pytest.approx(
            dense_m.objective(rd.theta, reml), rel=1e-13)


def test_sparse_x_rank_deficiency_drops_the_later_column():
    df = _crossed()
    df["c"] = df["a"]  # c duplicates a: its dummies are a's
    with pytest.warns(mixedlm.RankDeficiencyWarning, match=r"dropping 5 columns: c\[T.1\]"):
        m = mixedlm.lmm("y ~ 1 + a + b + c + (1|s)", df)
    assert sp.issparse(m._Xy) and m.fixef_names == [
        "Intercept", *(f"a[T.{i}]" for i in range(1, 6)), *(f"b[T.{i}]" for i in range(1, 5))]
    ref = mixedlm.lmm("y ~ 1 + a + b + (1|s)", df).fit()
    assert m.fit().objective == pytest.approx(ref.objective, rel=1e-12)


def test_sparse_x_non_finite_value_is_named():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"y": rng.normal(size=300), "w": np.ones(300),
                       "f": pd.Categorical(rng.integers(0, 30, 300)),
                       "s": pd.Categorical(rng.integers(0, 20, 300))})
    assert sp.issparse(fixed_matrix("y ~ 1 + f + w", df, df["y"].to_numpy())[0])
    df.loc[4, "w"] = np.inf
    with pytest.raises(ValueError, match=r"column 'w' has 1 infinite value.*row 4"):
        mixedlm.lmm("y ~ 1 + f + w + (1|s)", df)


def test_numeric_designs_take_formulaic_dense_output(monkeypatch):
    """Only designs with a factor (or C()) go through formulaic's sparse output."""
    df = _crossed()
    calls = []
    real = formulaic.model_matrix
    monkeypatch.setattr(mixedlm._fixed.formulaic, "model_matrix",
                        lambda *a, **k: calls.append(k.get("output")) or real(*a, **k))
    fixed_matrix("y ~ 1 + np.log(x**2) + I(x**2)", df, df["y"].to_numpy())
    fixed_matrix("y ~ 1 + x:a", df, df["y"].to_numpy())
    fixed_matrix("y ~ C(np.round(x))", df, df["y"].to_numpy())
    assert calls == [None, "sparse", "sparse"]


@pytest.mark.parametrize("formula", [
    "y ~ 0 + a:b + (1|s) + (1|d)",                          # no intercept
    "y ~ 1 + C(a, contr.sum) * b + (1|s) + (1|d)",          # rows unsorted in columns
])
def test_sparse_x_variants_fit_as_dense(formula, monkeypatch):
    df = _crossed()
    sparse_m = mixedlm.lmm(formula, df)
    assert sp.issparse(sparse_m._Xy)
    monkeypatch.setattr(mixedlm._fixed, "SPARSE_X_MAX_DENSITY", 0.0)
    dense_m = mixedlm.lmm(formula, df)
    np.testing.assert_array_equal(sparse_m.X, dense_m.X)
    rs, rd = sparse_m.fit(), dense_m.fit()
    assert rs.objective == pytest.approx(rd.objective, rel=1e-12)
    np.testing.assert_allclose(rs.fixef.to_numpy(), rd.fixef.to_numpy(), atol=1e-6)


def test_intercept_only_fixed_part_on_the_sparse_route():
    """y ~ 1 - 1: p = 0 through formulaic; the fit still works."""
    df = _crossed()
    m = mixedlm.lmm("y ~ 1 - 1 + a:b - a:b + (1|s) + (1|d)", df)
    assert m.p == 0 and m.X.shape == (600, 0)
    r = m.fit()
    assert np.isfinite(r.objective) and r.fitted.shape == (600,)


@pytest.mark.parametrize("rhs", ["a + {a.cat.codes.mean()}", "0 + a[0] + x"])
def test_terms_formulaic_sparse_output_lacks_take_its_dense_output(rhs):
    """formulaic's sparse output raises on a scalar term that its dense output
    builds: the fixed part then comes from the dense output (same values)."""
    df = _crossed()
    Xy, names = fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())
    want = formulaic.model_matrix(rhs, df, na_action="ignore")
    assert isinstance(Xy, np.ndarray) and names == [str(c) for c in want.columns]
    np.testing.assert_array_equal(Xy[:, :-1], np.asarray(want, dtype=float))


def test_formulaic_failure_names_the_fixed_part():
    df = _crossed()
    with pytest.raises(ValueError, match=r"formulaic cannot build the fixed-effects part "
                                         r"'1 \+ \{x.nosuchattr\}': FactorEvaluationError.*"
                                         r"nosuchattr"):
        mixedlm.lmm("y ~ 1 + {x.nosuchattr} + (1|s)", df)
