"""mixedlm._combinations and its use in _fixed: X of a factors-only fixed part from
formulaic's X on the distinct combinations of the factors' levels."""
import warnings

import formulaic
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedlm
import mixedlm._combinations as combinations
import mixedlm._fixed
from mixedlm._combinations import categorical_variables, level_combinations
from mixedlm._core._xcsc import gather_rows_csc
from mixedlm._fixed import fixed_matrix


def _factors(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "a": pd.Categorical(rng.integers(0, 4, n)),
        # one category never used: formulaic still makes its (all-zero) column
        "b": pd.Categorical(rng.choice(["u", "v", "w"], n), categories=["w", "u", "v", "z"]),
        "c": pd.Categorical(rng.integers(0, 3, n)),
        "s": pd.Categorical(rng.integers(0, 40, n)),
        "d": pd.Categorical(rng.integers(0, 25, n)),
    })


def _rows_seen(monkeypatch):
    """Record the number of rows of every frame formulaic materialises."""
    rows = []
    real = formulaic.model_matrix
    monkeypatch.setattr(mixedlm._fixed.formulaic, "model_matrix",
                        lambda spec, data, **k: rows.append(len(data)) or real(spec, data, **k))
    return rows


@pytest.mark.parametrize("rhs", [
    "1 + a", "a", "0 + a", "1 + a*b", "1 + a:b", "0 + a:b:c", "1 + a*b*c",
    "1 + C(a, contr.sum) * b", "1 + C(b, contr.helmert) + c", "-1 + b + a:c",
    "1 + C(a, contr.treatment(base=2)) + b", "1 + C(c, levels=[2, 0, 1])", "(a + b + c)**2",
    "1 + a/c", "1 + C(a, contr.poly)",
])
def test_factor_designs_equal_formulaic(rhs, monkeypatch):
    """Same values, names and storage rule as formulaic on the full rows, with
    formulaic run on one row per combination only."""
    df = _factors()
    rows = _rows_seen(monkeypatch)
    Xy, names = fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())
    monkeypatch.undo()
    want = formulaic.model_matrix(rhs, df)
    assert names == [str(c) for c in want.columns]
    X = Xy.toarray() if sp.issparse(Xy) else Xy
    np.testing.assert_array_equal(X[:, :-1], np.asarray(want, dtype=float))
    np.testing.assert_array_equal(X[:, -1], df["y"].to_numpy())
    assert len(rows) == 1 and rows[0] <= 4 * 4 * 3  # the combinations, not 3000 rows
    dense_share = np.count_nonzero(X[:, :-1]) / max(X[:, :-1].size, 1)
    assert sp.issparse(Xy) == (dense_share <= mixedlm._fixed.SPARSE_X_MAX_DENSITY)
    if sp.issparse(Xy):
        assert Xy.format == "csc" and Xy.has_sorted_indices
        assert np.all(Xy.data[: Xy.indptr[-2]] != 0)  # no stored zeros in X
    else:
        assert Xy.flags.f_contiguous


@pytest.mark.parametrize("rhs", [
    "1 + {a.cat.codes - a.cat.codes.mean()}",   # the column's mean: not row-wise
    "1 + center(a.cat.codes)", "1 + scale(c.cat.codes) + b", "1 + {a == 2} + c",
    "1 + I(a.cat.codes ** 2)",
])
def test_column_wide_terms_keep_formulaic_on_all_rows(rhs, monkeypatch):
    """A term that may use the whole column gets formulaic on the rows, so its
    value is the rows' (on the combinations, the mean above would differ)."""
    df = _factors()
    rows = _rows_seen(monkeypatch)
    Xy, names = fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())
    assert rows == [3000]
    monkeypatch.undo()
    X = Xy.toarray() if sp.issparse(Xy) else Xy
    np.testing.assert_array_equal(X[:, :-1], np.asarray(formulaic.model_matrix(rhs, df), float))


@pytest.mark.parametrize("rhs, row_wise", [
    (" 1 + a*b", True), ("0 + a:b:c", True), ("-1 + b + a:c", True), ("(a + b)**2", True),
    ("1 + C(a, contr.treatment(base=2))", True), ("C(a, levels=[0, 1])", True),
    ("1 + C(a, contr.sum) * b", True), ("C(a, contr.custom([[1], [2]]))", True),
    ("1 + {a == 2}", False), ("center(a)", False), ("I(a)", False), ("np.log(a)", False),
    ("a.cat.codes", False), ("C(center(a))", False), ("1 + a | b", False), ("1 + (a", False),
    ("a)", False), ("a[::-1]", False), ("0 + a[0]", False), ("C(a)[0]", False),
    ("C(a[::-1])", False), ("C(a, levels=a)", False), ("a + exp", False),
    ("contr.sum", False), ("C(a, contr.sum(C(b)))", False), ("a = b", False),
    ("C(a, contr.treatment(base=f'{a.mode()[0]}'))", False), ("C(a, levels=[*'pq'])", False),
    ("C(*a)", False), ("b + C(*b)", False), ("C()", False), ("C((a))", False),
    ("C(a, b)", False), ("C(a, F'x')", False), ("C(a, contr.treatment(base=-1))", True),
    ("C(a, levels=['p', 'q'])", True), ("C(a) + b:C(c, contr.sum)", True),
])
def test_row_wise_terms(rhs, row_wise):
    """Only names of the factors, term operators and C() with codings and literal
    options; indexing, other calls and other names (formulaic's own ``exp``,
    ``scale``, ...) are not row-wise."""
    assert combinations.row_wise_terms(rhs, ["a", "b", "c"]) is row_wise


@pytest.mark.parametrize("name", ["exp", "scale", "center", "log"])
def test_columns_named_like_formulaic_functions(name, monkeypatch):
    """formulaic's required_variables leaves such names out; the combinations
    route must not drop the column (it falls back to the rows)."""
    df = _factors(n=600)
    df[name] = pd.Categorical(np.random.default_rng(3).integers(0, 3, 600))
    for rhs in (f"1 + a + {name}", f"1 + a * {name}"):
        rows = _rows_seen(monkeypatch)
        Xy, names = fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())
        monkeypatch.undo()
        assert rows == [600]
        want = formulaic.model_matrix(rhs, df)
        X = Xy.toarray() if sp.issparse(Xy) else Xy
        assert names == [str(c) for c in want.columns]
        np.testing.assert_array_equal(X[:, :-1], np.asarray(want, dtype=float))


@pytest.mark.parametrize("column", ["C", "contr"])
def test_data_column_named_like_formulaic_codings_keeps_the_rows(column, monkeypatch):
    """A data column C or contr shadows formulaic's own on the rows (where C(a)
    then fails); the small frame would not carry it, so the route is not taken."""
    df = _factors(n=300).assign(**{column: np.arange(300.0)})
    rows = _rows_seen(monkeypatch)
    with pytest.raises(Exception):  # noqa: B017 - whatever formulaic raises on the rows
        fixed_matrix("y ~ 1 + C(a, contr.sum) + b", df, df["y"].to_numpy())
    assert rows and set(rows) == {300}  # the sparse output, then the dense one
    monkeypatch.undo()
    with pytest.raises(Exception):  # noqa: B017
        formulaic.model_matrix("1 + C(a, contr.sum) + b", df)
    assert combinations.combination_factors("1 + C(a, contr.sum) + b", ["a", "b"], df) is None


def test_indexing_keeps_formulaic_on_all_rows():
    df = _factors(n=400)
    for rhs in ("a[::-1]", "C(a[::-1])"):
        Xy, _ = fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())
        X = Xy.toarray() if sp.issparse(Xy) else Xy
        np.testing.assert_array_equal(
            X[:, :-1], np.asarray(formulaic.model_matrix(rhs, df, na_action="ignore"), float))


def test_numeric_or_string_variables_keep_formulaic_on_all_rows(monkeypatch):
    df = _factors().assign(t=lambda d: d["a"].astype(str))
    rows = _rows_seen(monkeypatch)
    for rhs in ("1 + x*a", "1 + t", "1 + a + np.log(x**2)"):
        fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())
    assert rows == [3000, 3000, 3000]
    assert categorical_variables(["a", "t"], df) is None
    assert categorical_variables([], df) is None
    assert categorical_variables(["a", "nope"], df) is None
    assert categorical_variables(["a", "b"], df) == ["a", "b"]


def test_many_combinations_fall_back_to_the_rows(monkeypatch):
    """s:d has 1,000 possible combinations on 3,000 rows: above the fraction, so
    formulaic runs on the rows (and gives the same matrix)."""
    df = _factors()
    assert level_combinations(df, ["s", "d"]) is None
    rows = _rows_seen(monkeypatch)
    Xy, names = fixed_matrix("y ~ 1 + s:d", df, df["y"].to_numpy())
    assert rows == [3000]
    monkeypatch.undo()
    np.testing.assert_array_equal(Xy.toarray()[:, :-1],
                                  np.asarray(formulaic.model_matrix("1 + s:d", df), float))


@pytest.mark.parametrize("table", [True, False])
def test_level_combinations_first_rows_and_inverse(table, monkeypatch):
    """Both the presence table and the sorted route: every row maps to the
    combination of its levels, and ``first`` holds one row of each."""
    if not table:
        monkeypatch.setattr(combinations, "DENSE_CODE_SPACE_PER_ROW", -1)
    df = _factors(n=500, seed=5)
    first, inverse = level_combinations(df, ["a", "b", "c"])
    key = list(zip(df["a"], df["b"], df["c"]))
    for i in range(len(df)):
        assert key[first[inverse[i]]] == key[i]
    assert len(set(key)) == len(first) and len(np.unique(inverse)) == len(first)
    assert len(np.unique(first)) == len(first)
    # combinations in code order: a's codes are the slowest-varying digit
    codes = df["a"].cat.codes.to_numpy()[first]
    assert np.all(np.diff(codes) >= 0)


def test_level_combinations_rejects_missing_codes():
    df = _factors(n=100)
    df["a"] = df["a"].cat.set_categories([0, 1])  # levels 2, 3 become missing
    assert level_combinations(df, ["a"]) is None


def test_non_finite_small_matrix_reports_the_column_and_row():
    df = _factors(n=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0) in formulaic
        with pytest.raises(ValueError, match=r"column 'np.log\(a.cat.codes \+ 0.0\)' has "
                                             r"\d+ infinite values, e.g. at row \d+"):
            fixed_matrix("y ~ 1 + {np.log(a.cat.codes + 0.0)}", df, df["y"].to_numpy())


def test_non_finite_coding_on_the_combinations_falls_back_and_is_named():
    """C() with an infinite custom coding is row-wise; the combinations' X is not
    finite, so the rows' route reports the column and a row."""
    df = _factors(n=200)
    rhs = "1 + C(a, contr.custom([[1e400], [1], [2], [3]]))"
    assert combinations.row_wise_terms(rhs, ["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match=r"infinite value.*e.g. at row \d+"):
            fixed_matrix("y ~ " + rhs, df, df["y"].to_numpy())


def test_gather_rows_csc_against_numpy():
    rng = np.random.default_rng(2)
    Xc = rng.normal(size=(7, 5)) * (rng.random((7, 5)) < 0.5)
    inverse = rng.integers(0, 7, 60).astype(np.int64)
    y = rng.normal(size=60)
    indptr, indices, data = gather_rows_csc(Xc, inverse, y)
    got = sp.csc_array((data, indices, indptr), shape=(60, 6))
    np.testing.assert_array_equal(got.toarray(), np.column_stack([Xc[inverse], y]))
    assert got.has_sorted_indices and indices.dtype == np.int32 and indptr.dtype == np.int64
    assert np.count_nonzero(data[: indptr[5]]) == indptr[5]
    with pytest.raises(ValueError, match="out of range"):
        gather_rows_csc(Xc, np.array([0, 7], dtype=np.int64), y[:2])
    with pytest.raises(ValueError, match="out of range"):
        gather_rows_csc(Xc, np.array([-1, 0], dtype=np.int64), y[:2])
    with pytest.raises(ValueError, match="one value per row"):
        gather_rows_csc(Xc, inverse, y[:5])


@pytest.mark.parametrize("formula, dropped", [("y ~ 1 + a*b + (1|s) + (1|d)", 4),
                                              ("y ~ 1 + c + (1|s)", 0)])
def test_fit_same_with_and_without_combinations(formula, dropped, monkeypatch):
    """The unused level z of b gives all-zero columns, dropped alike by both routes."""
    df = _factors()
    df["y"] += np.random.default_rng(9).normal(size=40)[df["s"].cat.codes]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mixedlm.RankDeficiencyWarning)
        fast = mixedlm.lmm(formula, df)
        monkeypatch.setattr(combinations, "COMBINATION_MAX_FRACTION", 0.0)
        slow = mixedlm.lmm(formula, df)
    assert len(caught) == (2 if dropped else 0)
    assert fast.dropped_columns == slow.dropped_columns and len(fast.dropped_columns) == dropped
    np.testing.assert_array_equal(fast.X, slow.X)
    assert fast.fixef_names == slow.fixef_names
    for reml in (False, True):
        rf, rs = fast.fit(reml=reml), slow.fit(reml=reml)
        assert rf.objective == pytest.approx(rs.objective, rel=1e-12)
        np.testing.assert_allclose(rf.fixef.to_numpy(), rs.fixef.to_numpy(), atol=1e-8)
