"""LinearMixedModelResults: accessors, aliases, ranef scales, VarCorr, summary, copies.

Reference numbers come from ``tests/reference/lme4_public.json`` (read, never
copied); fits are shared through the session cache in ``conftest``.
"""
from __future__ import annotations

import _oracle as oracle
import numpy as np
import pandas as pd
import pytest

import mixedlm

# ---------------------------------------------------------------------------
# Accessors and aliases
# ---------------------------------------------------------------------------


def test_aliases(fits):
    r = fits.get("sleepstudy_corr_ML").result
    assert r.coef is r.fixef
    assert r.fe_params is r.fixef
    assert r.bse is r.stderror
    assert r.llf == r.loglik == -0.5 * r.objective
    assert r.deviance == r.objective
    assert r.fittedvalues is r.fitted
    assert r.resid is r.residuals
    re = r.random_effects
    for g, df in r.ranef().items():
        pd.testing.assert_frame_equal(re[g], df)


def test_accessor_types_and_shapes(fits):
    rf = fits.get("sleepstudy_corr_ML")
    r = rf.result
    names = ["Intercept", "Days"]
    assert isinstance(r.fixef, pd.Series) and list(r.fixef.index) == names
    assert isinstance(r.stderror, pd.Series) and list(r.stderror.index) == names
    assert isinstance(r.vcov, pd.DataFrame)
    assert list(r.vcov.index) == list(r.vcov.columns) == names
    np.testing.assert_allclose(np.sqrt(np.diag(r.vcov)), r.stderror, rtol=1e-12)
    assert r.theta.shape == (3,) and r.theta_names == rf.model.theta_names
    assert r.nobs == 180 and r.n_dropped == 0 and r.dropped_columns == []
    assert isinstance(r.varcorr, mixedlm.VarCorr)
    assert isinstance(r.optsum, mixedlm.OptSummary)
    assert isinstance(r.summary(), mixedlm.Summary)
    ranef = r.ranef()
    assert list(ranef) == ["Subject"]
    assert list(ranef["Subject"].columns) == names
    assert ranef["Subject"].shape == (18, 2)
    assert r.fitted.shape == r.residuals.shape == (180,)
    assert "sleepstudy" not in repr(r) and "ML" in repr(r)


@pytest.mark.parametrize("fit_id_", ["dyestuff_ML", "sleepstudy_corr_ML", "penicillin_ML",
                                     "insteval_dept_ML"])
def test_ranef_levels_follow_r_order(fit_id_, fits):
    """Single-variable grouping factors keep R's level order (ranef rows match lme4's)."""
    rf = fits.get(fit_id_)
    ours = rf.result.ranef()
    for group, rec in rf.ref["ranef"].items():
        if ":" in group:
            continue
        assert list(ours[group].index.astype(str)) == rec["levels"]


# ---------------------------------------------------------------------------
# ranef: b = Lambda u per block, and both against the oracle
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fit_id_", ["dyestuff_ML", "sleepstudy_corr_ML",
                                     "sleepstudy_uncorr_REML", "penicillin_REML", "pastes_ML",
                                     "insteval_dept_ML"])
def test_ranef_uscale_relation(fit_id_, fits):
    rf = fits.get(fit_id_)
    r, m = rf.result, rf.model
    b, u = r.ranef(), r.ranef(uscale=True)
    assert list(b) == list(u) == [blk.group for blk in m.blocks]
    for blk in m.blocks:
        lam = blk.lam(r.theta)
        pd.testing.assert_index_equal(b[blk.group].index, u[blk.group].index)
        np.testing.assert_allclose(b[blk.group].to_numpy(), u[blk.group].to_numpy() @ lam.T,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fit_id_", [
    "dyestuff_ML", "dyestuff_REML", "sleepstudy_intercept_REML", "penicillin_ML",
    "pastes_REML",
    "sleepstudy_corr_ML",
    "sleepstudy_uncorr_REML",
])
def test_results_match_oracle_at_fitted_theta(fit_id_, fits):
    """beta, sigma, u, b and fitted values equal the dense oracle's at the fitted theta."""
    rf = fits.get(fit_id_)
    r, m = rf.result, rf.model
    o = oracle.solve(m, r.theta, r.reml)
    assert r.objective == pytest.approx(o.objective, rel=1e-10)
    np.testing.assert_allclose(r.fixef.to_numpy(), o.beta, rtol=1e-8)
    assert r.sigma == pytest.approx(o.sigma, rel=1e-9)
    assert r.pwrss == pytest.approx(o.pwrss, rel=1e-9)
    u, b = r.ranef(uscale=True), r.ranef()
    for blk, ou, ob in zip(m.blocks, o.u_blocks, o.b_blocks):
        scale = max(np.abs(ob).max(), 1e-8 * r.sigma)
        np.testing.assert_allclose(u[blk.group].to_numpy(), ou, rtol=1e-7,
                                   atol=1e-9 * max(np.abs(ou).max(), 1.0))
        np.testing.assert_allclose(b[blk.group].to_numpy(), ob, rtol=1e-7, atol=1e-9 * scale)
    fitted = m.X @ o.beta + oracle.dense_z(m) @ o.b
    np.testing.assert_allclose(r.fitted, fitted, rtol=1e-9, atol=1e-9 * np.abs(m.y).max())


def test_ranef_returns_copies(fits):
    r = fits.get("dyestuff_ML").result
    first = r.ranef()["Batch"].copy()
    for frame in (r.ranef()["Batch"], r.ranef(uscale=True)["Batch"]):
        frame.iloc[:, :] = 0.0
    pd.testing.assert_frame_equal(r.ranef()["Batch"], first)


# ---------------------------------------------------------------------------
# VarCorr
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fit_id_", ["sleepstudy_corr_ML", "sleepstudy_corr_REML"])
def test_varcorr_table_sleepstudy(fit_id_, fits):
    """Rows: Subject Intercept, Subject Days, the covariance row (sdcor = correlation),
    Residual; vcov/sdcor within 1e-3 relative (they depend on theta, which differs by
    ~1e-5 from lme4's), the correlation within 1e-3 absolute."""
    rf = fits.get(fit_id_)
    ref = rf.ref["varcorr"]
    table = rf.result.varcorr.table
    assert list(table.columns) == ["group", "var1", "var2", "vcov", "sdcor"]
    assert len(table) == len(ref["group"]) == 4

    def key(g, v1, v2):
        none = lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else v
        return (g, none(v1) and v1.replace("(Intercept)", "Intercept"),
                none(v2) and v2.replace("(Intercept)", "Intercept"))

    ours = {key(*row[:3]): row[3:] for row in table.itertuples(index=False, name=None)}
    assert set(ours) == {("Subject", "Intercept", None), ("Subject", "Days", None),
                         ("Subject", "Intercept", "Days"), ("Residual", None, None)}
    assert key(*table.iloc[-1, :3]) == ("Residual", None, None)
    sds = {}
    for g, v1, v2, vcov, sdcor in zip(ref["group"], ref["name1"], ref["name2"], ref["vcov"],
                                      ref["sdcor"]):
        k = key(g, v1, v2)
        got_vcov, got_sdcor = ours[k]
        if k[2] is None:  # a variance: sdcor is the standard deviation
            assert got_vcov == pytest.approx(vcov, rel=1e-3), k
            assert got_sdcor == pytest.approx(sdcor, rel=1e-3), k
            assert got_sdcor == pytest.approx(np.sqrt(got_vcov), rel=1e-12)
            sds[k[1]] = got_sdcor
        else:  # a covariance: sdcor is the correlation
            scale = np.sqrt(ref["vcov"][0] * ref["vcov"][1])
            assert abs(got_vcov - vcov) / scale < 1e-3, k
            assert got_sdcor == pytest.approx(sdcor, abs=1e-3), k
    cov = ours[("Subject", "Intercept", "Days")]
    assert cov[1] == pytest.approx(cov[0] / (sds["Intercept"] * sds["Days"]), rel=1e-12)
    assert ours[("Residual", None, None)][1] == pytest.approx(rf.result.sigma, rel=1e-14)


def test_varcorr_text(fits):
    text = str(fits.get("sleepstudy_corr_ML").result.varcorr)
    for word in ("Groups", "Name", "Variance", "Std.Dev.", "Corr", "Subject", "Intercept",
                 "Days", "Residual"):
        assert word in text


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------


def test_summary_ml(fits):
    r = fits.get("sleepstudy_corr_ML").result
    text = str(r.summary())
    assert text.startswith("Linear mixed model fit by maximum likelihood")
    assert "Reaction ~ 1 + Days + (1 + Days|Subject)" in text or \
        "Reaction ~ 1 + Days + (1 + Days | Subject)" in text
    for part in ("Random effects:", "Number of obs: 180", "Fixed effects:", "AIC", "BIC",
                 "logLik", "deviance", "Subject, 18", "Intercept", "Days"):
        assert part in text, part
    assert "REML" not in text
    assert str(r) == text
    fe = r.summary().fixed_effects
    assert list(fe.columns) == ["Estimate", "Std. Error", "z value"]
    np.testing.assert_allclose(fe["z value"], r.fixef / r.stderror)


def test_summary_reml(fits):
    r = fits.get("sleepstudy_corr_REML").result
    text = str(r)
    assert text.startswith("Linear mixed model fit by REML")
    assert "REML criterion" in text
    assert f"{r.objective:.4f}"[:6] in text
    assert "Number of obs: 180" in text


def test_summary_singular_note(fits):
    assert "singular" in str(fits.get("dyestuff2_ML").result).lower()


def test_summary_crossed_groups(fits):
    text = str(fits.get("penicillin_ML").result)
    assert "Number of obs: 144" in text
    assert "plate, 24" in text and "sample, 6" in text


# ---------------------------------------------------------------------------
# Results are copies
# ---------------------------------------------------------------------------


def test_results_are_copies(dataset):
    m = mixedlm.lmm("Reaction ~ 1 + Days + (1|Subject)", dataset("sleepstudy"))
    r1 = m.fit()
    snap = dict(objective=r1.objective, theta=r1.theta.copy(), sigma=r1.sigma,  # noqa: C408
                fixef=r1.fixef.copy(), se=r1.stderror.copy(), vcov=r1.vcov.copy(),
                ranef=r1.ranef()["Subject"].copy(), u=r1.ranef(uscale=True)["Subject"].copy(),
                fitted=r1.fitted.copy(), text=str(r1), table=r1.varcorr.table.copy())
    r2 = m.fit(reml=True)
    m.objective(np.array([0.1]))  # and a stray evaluation at another theta
    assert r2.reml and not r1.reml and r2.objective != r1.objective
    assert r1.objective == snap["objective"] and r1.sigma == snap["sigma"]
    np.testing.assert_array_equal(r1.theta, snap["theta"])
    pd.testing.assert_series_equal(r1.fixef, snap["fixef"])
    pd.testing.assert_series_equal(r1.stderror, snap["se"])
    pd.testing.assert_frame_equal(r1.vcov, snap["vcov"])
    pd.testing.assert_frame_equal(r1.ranef()["Subject"], snap["ranef"])
    pd.testing.assert_frame_equal(r1.ranef(uscale=True)["Subject"], snap["u"])
    np.testing.assert_array_equal(r1.fitted, snap["fitted"])
    pd.testing.assert_frame_equal(r1.varcorr.table, snap["table"])
    assert str(r1) == snap["text"]
    # the ML fit's numbers are still lme4's ML ones
    assert str(r1).startswith("Linear mixed model fit by maximum likelihood")


def test_optsum_str(fits):
    text = str(fits.get("penicillin_REML").result.optsum)
    for part in ("Optimizer", "Initial theta", "Final theta", "Objective (fmin)",
                 "Evaluations", "Converged"):
        assert part in text


def test_varcorr_is_a_tidy_dataframe(fits):
    """r.varcorr is a DataFrame like as.data.frame(VarCorr(m)) that prints like lme4."""
    rf = fits.get("sleepstudy_corr_ML")
    v = rf.result.varcorr
    assert isinstance(v, pd.DataFrame)
    assert list(v.columns) == ["group", "var1", "var2", "vcov", "sdcor"]
    np.testing.assert_allclose(v["vcov"].to_numpy(), rf.ref["varcorr"]["vcov"], rtol=1e-4)
    assert type(v[v["group"] == "Subject"]) is pd.DataFrame  # derived frames are plain
    assert str(v).splitlines()[0].split() == ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
