"""Fits against lme4: the 18 reference fits in ``tests/reference/lme4_public.json``.

Every number comes from the JSON (nothing is copied into this file). Each fit
is done once per session (``conftest.FitCache``).

Tolerances
----------
* objective: ours <= lme4's + 1e-6 |lme4's| (we may find a lower optimum);
  and not lower by more than 1e-4 relative, which would mean a different
  objective function rather than a better optimum (lme4's optima here are
  confirmed by glmmTMB to ~1e-8).
* logLik, AIC, BIC: the same one-sided tolerance as the objective, and the
  differences AIC - deviance, BIC - deviance (the parameter count) exactly
  lme4's.
* sigma, fixed-effects standard errors, vcov: 1e-4 relative.
* fixed effects: 1e-4 relative to max(|lme4's estimate|, its standard error)
  - an estimate near zero (e.g. a contrast) has no meaningful relative error;
  its SE is its natural scale.
* vcov entries: 1e-4 relative to max(|entry|, SE_i SE_j) - an off-diagonal
  covariance near zero is measured on the scale of the variances it couples.
* conditional modes (ranef, b scale): 1e-3 relative to max(|lme4's value|,
  max |lme4's values| of that column) - single modes near zero are measured on
  the scale of their column; when the whole column is 0 (a singular fit), on
  the scale of lme4's sigma.
* theta: atol 1e-3 + rtol 1e-3. The profiled objective is flat around the
  optimum and lme4's BOBYQA stops on xtol_abs 1e-6 / ftol; the optimizers
  differ by ~1e-5 on these fits.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedlm

OBJ_RTOL = 1e-6
OBJ_SANITY_RTOL = 1e-4
REL = 1e-4
RANEF_REL = 1e-3
THETA_ATOL, THETA_RTOL = 1e-3, 1e-3

# ---------------------------------------------------------------------------
# lme4 -> mixedlm names
# ---------------------------------------------------------------------------


def re_column(name: str) -> str:
    """Random-effects column: ``(Intercept)`` -> ``Intercept``."""
    return "Intercept" if name == "(Intercept)" else name


def fixef_name(name: str, data) -> str:
    """``(Intercept)`` -> ``Intercept``, ``service1`` -> ``service[T.1]``,
    ``service1:dept5`` -> ``service[T.1]:dept[T.5]``; numeric columns unchanged."""
    if name == "(Intercept)":
        return "Intercept"
    factors = {c: [str(v) for v in data[c].cat.categories]
               for c in data.columns if hasattr(data[c], "cat")}
    out = []
    for part in name.split(":"):
        match = None
        for col in sorted(factors, key=len, reverse=True):  # longest prefix first
            if part.startswith(col) and part[len(col):] in factors[col]:
                match = f"{col}[T.{part[len(col):]}]"
                break
        out.append(match if match is not None else part)
    return ":".join(out)


def group_name(name: str, ours) -> tuple[str, bool]:
    """Our grouping factor for lme4's, and whether level labels are reversed.

    lme4 writes the nested factor of ``(1|batch/cask)`` as ``cask:batch`` with
    levels ``a:A``; ours is ``batch:cask`` with levels ``A:a``.
    """
    if name in ours:
        return name, False
    rev = ":".join(reversed(name.split(":")))
    assert rev in ours, f"lme4 grouping factor {name!r} has no counterpart in {list(ours)}"
    return rev, True


def level_name(level: str, reversed_: bool) -> str:
    return ":".join(reversed(level.split(":"))) if reversed_ else level


def theta_name(name: str, ours) -> str:
    """``cask:batch.(Intercept)`` -> ``batch:cask.Intercept``."""
    group, rest = name.split(".", 1)
    return group_name(group, ours)[0] + "." + rest.replace("(Intercept)", "Intercept")


def mapped_fixef(ref_fit):
    ref, data = ref_fit.ref, ref_fit.data
    return {fixef_name(k, data): v for k, v in ref["fixef"].items()}


def relerr(got, want, scale):
    return abs(got - want) / scale


# ---------------------------------------------------------------------------
# Per-fit comparisons (parametrised over every fit id by conftest)
# ---------------------------------------------------------------------------


def test_structure(ref_fit):
    ref, r, m = ref_fit.ref, ref_fit.result, ref_fit.model
    assert r.nobs == ref["nobs"]
    assert r.reml == ref["REML"]
    assert list(r.fixef.index) == [fixef_name(k, ref_fit.data) for k in ref["fixef"]]
    ours = [b.group for b in m.blocks]
    assert m.theta_names == [theta_name(k, ours) for k in ref["theta"]]
    # lme4's lower bounds: 0 on diagonals, -Inf (null in the JSON) off them
    want_lower = [-np.inf if v is None else float(v) for v in ref["theta_lower"]]
    np.testing.assert_array_equal(m.lower, want_lower)


def test_objective(ref_fit):
    ours, lme4 = ref_fit.result.objective, ref_fit.ref["objective"]
    assert ours <= lme4 + OBJ_RTOL * abs(lme4), (ours, lme4)
    assert ours >= lme4 - OBJ_SANITY_RTOL * abs(lme4), (ours, lme4)


def test_loglik_aic_bic(ref_fit):
    ref, r = ref_fit.ref, ref_fit.result
    tol = OBJ_RTOL * abs(ref["objective"])
    assert r.loglik >= ref["logLik"] - tol / 2
    assert r.loglik == -0.5 * r.objective
    assert r.llf == r.loglik and r.deviance == r.objective
    assert r.aic <= ref["AIC"] + tol
    assert r.bic <= ref["BIC"] + tol
    # the parameter counts behind AIC/BIC are lme4's
    assert r.aic - r.objective == pytest.approx(ref["AIC"] - ref["objective"], abs=1e-8)
    assert r.bic - r.objective == pytest.approx(ref["BIC"] - ref["objective"], abs=1e-8)
    assert r.dof == ref["df"]


def test_sigma(ref_fit):
    assert relerr(ref_fit.result.sigma, ref_fit.ref["sigma"], ref_fit.ref["sigma"]) < REL


def test_theta(ref_fit):
    ref, r = ref_fit.ref, ref_fit.result
    np.testing.assert_allclose(r.theta, list(ref["theta"].values()),
                               atol=THETA_ATOL, rtol=THETA_RTOL)


def test_fixef_and_stderror(ref_fit):
    ref, r = ref_fit.ref, ref_fit.result
    se_ref = {fixef_name(k, ref_fit.data): v for k, v in ref["fixef_se"].items()}
    for name, want in mapped_fixef(ref_fit).items():
        # scale: max(|estimate|, SE) - see the module docstring
        scale = max(abs(want), se_ref[name])
        assert relerr(r.fixef[name], want, scale) < REL, (name, r.fixef[name], want)
        assert relerr(r.stderror[name], se_ref[name], se_ref[name]) < REL, (
            name, r.stderror[name], se_ref[name])


def test_vcov(ref_fit):
    ref, r = ref_fit.ref, ref_fit.result
    names = [fixef_name(k, ref_fit.data) for k in ref["vcov_fixef"]["names"]]
    want = np.asarray(ref["vcov_fixef"]["matrix"], dtype=float)
    got = r.vcov.loc[names, names].to_numpy()
    sd = np.sqrt(np.diag(want))
    # scale: max(|entry|, SE_i SE_j) - see the module docstring
    scale = np.maximum(np.abs(want), np.outer(sd, sd))
    err = np.abs(got - want) / scale
    assert err.max() < REL, (np.unravel_index(err.argmax(), err.shape), err.max())
    np.testing.assert_allclose(got, got.T, rtol=1e-12, atol=0)


def test_ranef(ref_fit, request):
    ref, r = ref_fit.ref, ref_fit.result
    ours = r.ranef()
    assert len(ours) == len(ref["ranef"])
    for lgroup, rec in ref["ranef"].items():
        group, rev = group_name(lgroup, ours)
        df = ours[group]
        levels = [level_name(lv, rev) for lv in rec["levels"]]
        assert sorted(df.index.astype(str)) == sorted(levels)
        for col in rec["columns"]:
            want = np.asarray(rec["values"][col], dtype=float)
            got = df.loc[levels, re_column(col)].to_numpy()
            # scale: max(|value|, max |column|), or sigma for an all-zero (singular) column
            colmax = np.abs(want).max()
            scale = np.maximum(np.abs(want), colmax if colmax > 0 else ref["sigma"])
            err = np.abs(got - want) / scale
            assert err.max() < RANEF_REL, (group, col, levels[err.argmax()], err.max())


def test_is_singular(ref_fit):
    assert ref_fit.result.is_singular == ref_fit.ref["isSingular"]


def test_warnings(ref_fit):
    """A singular-fit warning exactly for lme4's singular fits; no convergence warnings."""
    cats = [w.category for w in ref_fit.warnings]
    assert (mixedlm.SingularFitWarning in cats) == ref_fit.ref["isSingular"]
    assert mixedlm.ConvergenceWarning not in cats
    assert mixedlm.RankDeficiencyWarning not in cats


def test_fitted_plus_residuals_is_y(ref_fit):
    r, m = ref_fit.result, ref_fit.model
    assert r.fitted.shape == r.residuals.shape == (ref_fit.ref["nobs"],)
    np.testing.assert_allclose(r.fitted + r.residuals, m.y, rtol=1e-12, atol=1e-9)


def test_optsum(ref_fit):
    r, m = ref_fit.result, ref_fit.model
    o = r.optsum
    assert o.converged
    assert o.feval == len(o.fitlog) > 1
    assert o.fmin == pytest.approx(r.objective, rel=1e-13)
    np.testing.assert_array_equal(o.final, r.theta)
    np.testing.assert_array_equal(o.initial, m.theta0())
    assert min(f for _, f in o.fitlog) == o.fmin
    assert np.all(r.theta >= m.lower)


def test_optimum_moved_from_start(ref_fit):
    """The optimizer really moved (a factor that never updates would keep theta0)."""
    r = ref_fit.result
    assert not np.allclose(r.theta, r.optsum.initial, atol=1e-3)
    # the objective changed along the way (dyestuff2 may jump straight to the bound)
    assert len({f for _, f in r.optsum.fitlog}) >= 2


@pytest.fixture(scope="module")
def cholmod_twins():
    """CHOLMOD models of the large fits, cached: their evaluations are ~5x cheaper
    than the blocked solver's on InstEval (the two agree, see test_core_sparse)."""
    return {}


def test_result_is_a_local_optimum(ref_fit, cholmod_twins):
    """No feasible coordinate step of 1e-3 lowers the objective."""
    r, m = ref_fit.result, ref_fit.model
    assert m.objective(r.theta, r.reml) == pytest.approx(r.objective, rel=1e-13)
    if m.nobs > 10_000:
        key = ref_fit.ref["formula"]
        if key not in cholmod_twins:
            cholmod_twins[key] = mixedlm.lmm(key, ref_fit.data, solver="cholmod")
        m = cholmod_twins[key]
    base = m.objective(r.theta, r.reml)
    assert base == pytest.approx(r.objective, rel=1e-10)
    for i in range(len(r.theta)):
        for step in (-1e-3, 1e-3):
            th = r.theta.copy()
            th[i] = max(th[i] + step, m.lower[i])
            assert m.objective(th, r.reml) >= base - 1e-8 * abs(base), (i, step)


# ---------------------------------------------------------------------------
# Solver choice: CHOLMOD fits give blocked's optimum
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fit_id_", ["penicillin_ML", "penicillin_REML", "pastes_ML",
                                     "pastes_REML"])
def test_cholmod_fit_matches_blocked(fit_id_, fits):
    rf = fits.get(fit_id_)
    assert rf.result.solver == "blocked"
    res = mixedlm.lmm(rf.ref["formula"], rf.data, solver="cholmod").fit(reml=rf.ref["REML"])
    assert res.solver == "cholmod"
    assert res.objective == pytest.approx(rf.result.objective, rel=1e-9)
    lme4 = rf.ref["objective"]
    assert res.objective <= lme4 + OBJ_RTOL * abs(lme4)
    np.testing.assert_allclose(res.theta, rf.result.theta, atol=THETA_ATOL, rtol=THETA_RTOL)
    np.testing.assert_allclose(res.fixef, rf.result.fixef, rtol=REL)
    assert not np.allclose(res.theta, res.optsum.initial, atol=1e-3)


@pytest.mark.slow
def test_cholmod_fit_matches_blocked_insteval_full_ML_slow(fits):
    """SLOW (~1-2 min): InstEval y ~ 1 + service*dept + (1|s) + (1|d), ML, with CHOLMOD."""
    rf = fits.get("insteval_full_ML")
    res = mixedlm.lmm(rf.ref["formula"], rf.data, solver="cholmod").fit()
    assert res.solver == "cholmod"
    assert res.objective == pytest.approx(rf.result.objective, rel=1e-9)
    lme4 = rf.ref["objective"]
    assert res.objective <= lme4 + OBJ_RTOL * abs(lme4)
    assert not np.allclose(res.theta, res.optsum.initial, atol=1e-3)
    np.testing.assert_allclose(res.theta, list(rf.ref["theta"].values()),
                               atol=THETA_ATOL, rtol=THETA_RTOL)


# ---------------------------------------------------------------------------
# Fit behaviour
# ---------------------------------------------------------------------------


def test_verbose_output_format(capsys, dataset):
    mixedlm.lmm("Yield ~ 1 + (1|Batch)", dataset("dyestuff")).fit(verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "f_1: 327.76702, [1.0]"
    assert len(lines) > 3
    for i, line in enumerate(lines, start=1):
        head, theta = line.split(", ", 1)
        assert head.startswith(f"f_{i}: ")
        float(head.split(": ")[1])
        assert theta.startswith("[") and theta.endswith("]")


def test_verbose_multi_theta_format(capsys, dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixedlm.ConvergenceWarning)  # tested elsewhere
        mixedlm.lmm("diameter ~ 1 + (1|plate) + (1|sample)", dataset("penicillin")).fit(
            verbose=True)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("f_1: ") and first.endswith(", [1.0, 1.0]")


def test_quiet_by_default(capsys, dataset):
    mixedlm.lmm("Yield ~ 1 + (1|Batch)", dataset("dyestuff")).fit()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_singular_warning_dyestuff2(reml, dataset):
    m = mixedlm.lmm("Yield ~ 1 + (1|Batch)", dataset("dyestuff2"))
    with pytest.warns(mixedlm.SingularFitWarning, match="singular"):
        r = m.fit(reml=reml)
    assert r.is_singular
    assert r.theta[0] < 1e-4


def test_no_warning_regular_fit(dataset):
    m = mixedlm.lmm("Yield ~ 1 + (1|Batch)", dataset("dyestuff"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = m.fit()
    assert not r.is_singular


def test_fit_from_given_theta0(fits, dataset):
    """A different start reaches the same optimum."""
    rf = fits.get("sleepstudy_intercept_ML")
    m = mixedlm.lmm(rf.ref["formula"], dataset("sleepstudy"))
    r = m.fit(theta0=[0.2])
    np.testing.assert_array_equal(r.optsum.initial, [0.2])
    assert r.objective == pytest.approx(rf.result.objective, rel=1e-9)
