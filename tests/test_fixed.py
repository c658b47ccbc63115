"""mixedlm._fixed: the fixed-effects matrix, its fast path and rank handling."""
import formulaic
import numpy as np
import pandas as pd
import pytest

import mixedlm
from mixedlm._fixed import fixed_matrix, full_rank_columns


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
