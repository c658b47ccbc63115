"""Bad input to ``mixedlm.lmm`` / ``LinearMixedModel.objective``: clear errors naming the
problem; missing values, rank deficiency and grouping dtypes handled as lme4 does."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedlm

F = "Reaction ~ 1 + Days + (1 + Days|Subject)"


@pytest.fixture
def sleep(dataset):
    return dataset("sleepstudy")


# ---------------------------------------------------------------------------
# Formula problems
# ---------------------------------------------------------------------------


def test_formula_without_random_term(sleep):
    with pytest.raises(ValueError, match=r"no random-effects term.*\(1\|g\)"):
        mixedlm.lmm("Reaction ~ 1 + Days", sleep)


def test_unknown_column_suggests_close_match(sleep):
    with pytest.raises(ValueError, match=r"'Reacton'.*not in the data.*did you mean 'Reaction'"):
        mixedlm.lmm("Reacton ~ 1 + Days + (1|Subject)", sleep)


def test_unknown_grouping_column(sleep):
    with pytest.raises(ValueError, match=r"'Subjct'.*did you mean 'Subject'"):
        mixedlm.lmm("Reaction ~ 1 + Days + (1|Subjct)", sleep)


def test_unknown_column_lists_available(sleep):
    with pytest.raises(ValueError, match=r"'zzz'.*available columns: 'Reaction', 'Days', "
                                         r"'Subject'"):
        mixedlm.lmm("Reaction ~ 1 + zzz + (1|Subject)", sleep)


@pytest.mark.parametrize("formula, pattern", [
    ("Reaction ~ Days + (1|)", r"\(1\|\).*empty grouping factor"),
    ("Reaction ~ Days + (|Subject)", r"\(\|Subject\).*empty left side"),
    ("Reaction ~ Days + (1|Subject", r"unbalanced parentheses.*never closed"),
    ("Reaction ~ Days + 1|Subject)", r"unbalanced parentheses.*no matching"),
    ("Reaction ~ Days + ((1|Subject)", r"unbalanced parentheses"),
    ("Reaction ~ Days + 1|Subject", r"'\|' outside parentheses"),
    ("Reaction ~ Days + (1|Subject|Days)", r"more than one bar"),
    ("~ Days + (1|Subject)", r"no response"),
    ("Reaction ~ Days + (0|Subject)", r"no columns"),
], ids=["empty_group", "empty_lhs", "unclosed", "unopened", "double_open", "bare_bar",
        "two_bars", "no_response", "no_columns"])
def test_malformed_bars(formula, pattern, sleep):
    with pytest.raises(ValueError, match=pattern):
        mixedlm.lmm(formula, sleep)


def test_formula_not_a_string(sleep):
    with pytest.raises(TypeError, match="formula must be a string"):
        mixedlm.lmm(None, sleep)


# ---------------------------------------------------------------------------
# Data problems
# ---------------------------------------------------------------------------


def test_non_numeric_response(sleep):
    sleep["Rstr"] = sleep["Reaction"].astype(str)
    with pytest.raises(TypeError, match=r"response 'Rstr'.*must be numeric"):
        mixedlm.lmm("Rstr ~ 1 + Days + (1|Subject)", sleep)


def test_categorical_response(sleep):
    with pytest.raises(TypeError, match=r"response 'Subject'.*categorical"):
        mixedlm.lmm("Subject ~ 1 + Days + (1|Days)", sleep)


def test_grouping_with_a_level_per_observation(sleep):
    sleep["obs"] = np.arange(len(sleep))
    with pytest.raises(ValueError, match=r"grouping factor 'obs' has 180 levels for 180 "
                                         r"observations"):
        mixedlm.lmm("Reaction ~ 1 + Days + (1|obs)", sleep)


def test_empty_dataframe(sleep):
    with pytest.raises(ValueError, match="data has no rows"):
        mixedlm.lmm(F, sleep.iloc[:0])


def test_all_rows_missing(sleep):
    sleep["Days"] = np.nan
    with pytest.raises(ValueError, match=r"all 180 rows have a missing value.*'Days': 180"):
        mixedlm.lmm(F, sleep)


def test_infinite_predictor(sleep):
    sleep["Days"] = sleep["Days"].astype(float)
    sleep.loc[3, "Days"] = np.inf
    with pytest.raises(ValueError, match=r"column 'Days' has 1 infinite value.*row 3"):
        mixedlm.lmm("Reaction ~ 1 + Days + (1|Subject)", sleep)


def test_infinite_random_effects_covariate(sleep):
    sleep["x"] = 1.0
    sleep.loc[5, "x"] = -np.inf
    with pytest.raises(ValueError, match=r"'x'.*infinite"):
        mixedlm.lmm("Reaction ~ 1 + Days + (0 + x|Subject)", sleep)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_response(value, sleep):
    sleep.loc[7, "Reaction"] = value
    with pytest.raises(ValueError, match=r"response 'Reaction' has 1 infinite value.*row 7"):
        mixedlm.lmm(F, sleep)


@pytest.mark.parametrize("data", [None, {"Reaction": [1.0]}, np.zeros((3, 3)), [1, 2, 3]],
                         ids=["None", "dict", "ndarray", "list"])
def test_non_dataframe(data):
    with pytest.raises(TypeError, match=r"data must be a pandas\.DataFrame"):
        mixedlm.lmm(F, data)


# ---------------------------------------------------------------------------
# theta given to objective
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("theta, pattern", [
    ([1.0, 0.0], (r"theta has 2 values; this model has 3 \(Subject\.Intercept, "
                  r"Subject\.Days\.Intercept, Subject\.Days\)")),
    ([1.0, 0.0, 1.0, 1.0], r"theta has 4 values; this model has 3"),
    ([], r"theta has 0 values"),
    ([-0.1, 0.0, 1.0], r"violates the lower bounds.*diagonal entries must be >= 0"),
    ([1.0, 0.0, -1e-12], r"violates the lower bounds"),
    ([np.nan, 0.0, 1.0], r"theta must be finite"),
    ([1.0, np.inf, 1.0], r"theta must be finite"),
], ids=["short", "long", "empty", "negative_diag", "tiny_negative_diag", "nan", "inf"])
def test_bad_theta(theta, pattern, sleep):
    m = mixedlm.lmm(F, sleep)
    with pytest.raises(ValueError, match=pattern):
        m.objective(theta)
    with pytest.raises(ValueError, match=pattern):
        m.gradient(theta)


def test_negative_off_diagonal_is_fine(sleep):
    m = mixedlm.lmm(F, sleep)
    assert np.isfinite(m.objective([1.0, -0.5, 0.3]))


def test_bad_theta0_to_fit(sleep):
    m = mixedlm.lmm(F, sleep)
    with pytest.raises(ValueError, match="lower bounds"):
        m.fit(theta0=[1.0, 0.0, -1.0])


# ---------------------------------------------------------------------------
# Solver choice
# ---------------------------------------------------------------------------


def test_dense_solver_with_two_factors(dataset):
    with pytest.raises(ValueError, match=r"solver='dense' needs one grouping factor; this "
                                         r"model has 2") as exc:
        mixedlm.lmm("diameter ~ 1 + (1|plate) + (1|sample)", dataset("penicillin"),
                    solver="dense")
    assert "plate" in str(exc.value) and "sample" in str(exc.value)


def test_unknown_solver(sleep):
    with pytest.raises(ValueError, match=r"solver='sparse' is not one of .*'auto'.*'dense'.*"
                                         r"'blocked'.*'cholmod'"):
        mixedlm.lmm(F, sleep, solver="sparse")


# ---------------------------------------------------------------------------
# Missing values are dropped and counted
# ---------------------------------------------------------------------------


def test_missing_rows_dropped_and_counted(sleep):
    dirty = sleep.copy()
    dirty["Days"] = dirty["Days"].astype(float)
    dirty.loc[[3, 50], "Days"] = np.nan
    dirty.loc[7, "Reaction"] = np.nan
    dirty.loc[50, "Reaction"] = np.nan  # same row twice: counted once
    dirty["Subject"] = dirty["Subject"].astype(object)
    dirty.loc[100, "Subject"] = None
    dirty["unused"] = np.nan  # a column the model does not use is ignored
    clean = sleep.drop(index=[3, 7, 50, 100]).reset_index(drop=True)
    m = mixedlm.lmm(F, dirty)
    assert m.n_dropped == 4 and m.nobs == 176
    r = m.fit()
    rc = mixedlm.lmm(F, clean).fit()
    assert r.n_dropped == 4 and r.nobs == 176 and rc.n_dropped == 0
    assert "4 rows with missing values dropped" in str(r)
    assert "missing" not in str(rc)
    assert r.objective == pytest.approx(rc.objective, rel=1e-12)
    np.testing.assert_allclose(r.theta, rc.theta, rtol=1e-10)
    np.testing.assert_allclose(r.fixef, rc.fixef, rtol=1e-10)
    np.testing.assert_allclose(r.fitted, rc.fitted, rtol=1e-9)
    # the caller's frame is untouched
    assert dirty["Days"].isna().sum() == 2 and len(dirty) == 180


# ---------------------------------------------------------------------------
# Rank-deficient X
# ---------------------------------------------------------------------------


def test_rank_deficient_column_dropped(sleep):
    sleep["Days2"] = 2.0 * sleep["Days"]
    with pytest.warns(mixedlm.RankDeficiencyWarning, match=r"dropping 1 column: Days2"):
        m = mixedlm.lmm("Reaction ~ 1 + Days + Days2 + (1 + Days|Subject)", sleep)
    assert m.fixef_names == ["Intercept", "Days"] and m.dropped_columns == ["Days2"]
    r = m.fit()
    ref = mixedlm.lmm(F, sleep).fit()
    assert list(r.fixef.index) == ["Intercept", "Days"]
    assert r.dropped_columns == ["Days2"]
    assert "dropped Days2" in str(r)
    assert r.objective == pytest.approx(ref.objective, rel=1e-12)
    np.testing.assert_allclose(r.theta, ref.theta, rtol=1e-9)
    np.testing.assert_allclose(r.fixef, ref.fixef, rtol=1e-9)
    np.testing.assert_allclose(r.stderror, ref.stderror, rtol=1e-9)
    assert r.dof == ref.dof


def test_rank_deficient_factor_interaction(dataset):
    """A factor column duplicated by a numeric copy of one of its dummies."""
    df = dataset("penicillin")
    df["dummy"] = (df["sample"] == df["sample"].cat.categories[1]).astype(float)
    with pytest.warns(mixedlm.RankDeficiencyWarning, match="dummy"):
        m = mixedlm.lmm("diameter ~ 1 + sample + dummy + (1|plate)", df)
    assert "dummy" in m.dropped_columns and m.p == 6


# ---------------------------------------------------------------------------
# Grouping factor dtypes
# ---------------------------------------------------------------------------


def test_grouping_dtypes_give_identical_objective(sleep):
    sleep["s_int"] = sleep["Subject"].astype(str).astype(np.int64)
    sleep["s_str"] = sleep["Subject"].astype(str)
    sleep["s_obj"] = sleep["Subject"].astype(str).astype(object)
    sleep["s_cat"] = pd.Categorical(sleep["s_str"])
    sleep["s_float"] = sleep["s_int"].astype(float)
    theta = [0.9, -0.2, 0.3]
    values, levels = [], []
    for col in ("Subject", "s_int", "s_str", "s_obj", "s_cat", "s_float"):
        m = mixedlm.lmm(f"Reaction ~ 1 + Days + (1 + Days|{col})", sleep)
        values.append((m.objective(theta), m.objective(theta, reml=True)))
        levels.append(list(m.blocks[0].levels))
    assert all(v == values[0] for v in values), values
    assert all(lv == levels[0] for lv in levels)


def test_grouping_dtypes_identical_fit(sleep):
    sleep["s_int"] = sleep["Subject"].astype(str).astype(np.int64)
    sleep["s_str"] = sleep["Subject"].astype(str)
    fits = [mixedlm.lmm(f"Reaction ~ 1 + Days + (1|{c})", sleep).fit()
            for c in ("Subject", "s_int", "s_str")]
    for r in fits[1:]:
        assert r.objective == fits[0].objective
        np.testing.assert_array_equal(r.theta, fits[0].theta)
        assert next(iter(r.ranef().values())).index.tolist() == \
            next(iter(fits[0].ranef().values())).index.tolist()


def test_unused_categories_are_dropped(sleep):
    """lme4 drops unused factor levels (droplevels)."""
    sleep["Subject"] = sleep["Subject"].cat.add_categories(["999"])
    m = mixedlm.lmm(F, sleep)
    assert m.blocks[0].nlevels == 18 and "999" not in list(m.blocks[0].levels)


def test_interaction_grouping_dtypes(dataset):
    """(1|batch:cask) from categoricals equals the same from strings and ints."""
    df = dataset("pastes")
    df["b_str"] = df["batch"].astype(str)
    df["c_int"] = df["cask"].cat.codes.astype(np.int64)
    m1 = mixedlm.lmm("strength ~ 1 + (1|batch:cask) + (1|batch)", df)
    m2 = mixedlm.lmm("strength ~ 1 + (1|b_str:c_int) + (1|b_str)", df)
    for th in ([1.0, 1.0], [2.5, 0.3]):
        assert m1.objective(th) == pytest.approx(m2.objective(th), rel=1e-13)
