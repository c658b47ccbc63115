"""The CHOLMOD solver (``_core._sparse`` + ``_core._cholmod``) and agreement of all solvers.

Objective values against the dense NumPy oracle for the multi- and
single-factor designs; the three solvers agree on the bundled data
(penicillin, pastes, InstEval); and the CHOLMOD factor really is updated at
every theta (scikit-sparse's ``cholesky`` returns a new factor and leaves the
old one unchanged: a solver that used it would return the same value at every
theta).
"""
from __future__ import annotations

import _oracle as oracle
import numpy as np
import pytest

import mixedlm

RTOL = 1e-10  # objective vs the oracle: both are direct factorizations
MULTI_IDS = list(oracle.MULTI_FACTOR)


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("case", MULTI_IDS)
def test_multi_factor_matches_oracle(case, reml, sim_df):
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df, solver="cholmod")
    assert m.solver.name == "cholmod"
    Z = oracle.dense_z(m)
    for i, th in enumerate(oracle.theta_set(m, seed=6000 + m.ntheta)):
        got = m.objective(th, reml=reml)
        want = oracle.objective(m, th, reml, Z=Z)
        assert got == pytest.approx(want, rel=RTOL), (i, th.tolist(), got, want)


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("case", list(oracle.SINGLE_FACTOR))
def test_single_factor_matches_oracle(case, reml, sim_df):
    m = mixedlm.lmm(oracle.SINGLE_FACTOR[case], sim_df, solver="cholmod")
    assert m.solver.name == "cholmod"
    Z = oracle.dense_z(m)
    for th in oracle.theta_set(m, seed=6100 + m.ntheta):
        assert m.objective(th, reml) == pytest.approx(oracle.objective(m, th, reml, Z=Z),
                                                      rel=RTOL)


@pytest.mark.parametrize("case", ["crossed_scalar", "three_mixed", "nested_vector"])
def test_factor_is_updated_every_theta(case, sim_df):
    """Different theta, different value; returning to a theta reproduces it exactly."""
    m = mixedlm.lmm(oracle.MULTI_FACTOR[case][0], sim_df, solver="cholmod")
    rng = np.random.default_rng(1)
    thetas = [oracle.random_theta(m, rng) for _ in range(4)]
    values = [m.objective(t) for t in thetas]
    assert len(set(values)) == len(values)
    for t, v in zip(thetas, values):
        assert m.objective(t) == pytest.approx(v, rel=1e-13)
        assert v == pytest.approx(oracle.objective(m, t), rel=RTOL)


def test_solution_matches_oracle(sim_df):
    m = mixedlm.lmm(oracle.MULTI_FACTOR["three_mixed"][0], sim_df, solver="cholmod")
    th = oracle.random_theta(m, np.random.default_rng(8))
    m.objective(th)
    beta, us, _, pwrss = m.solver.solution(th)
    o = oracle.solve(m, th)
    np.testing.assert_allclose(beta, o.beta, rtol=1e-9, atol=1e-12)
    for got, want in zip(us, o.u_blocks):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    assert pwrss == pytest.approx(o.pwrss, rel=1e-10)


# ---------------------------------------------------------------------------
# All solvers agree on the bundled data
# ---------------------------------------------------------------------------

BUNDLED = [
    ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    ("pastes", "strength ~ 1 + (1|batch/cask)"),
    ("pastes", "strength ~ 1 + (1|batch) + (1|sample)"),
]


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("name, formula", BUNDLED, ids=["penicillin", "pastes_nested",
                                                        "pastes_sample"])
def test_solvers_agree_on_bundled_data(name, formula, reml, dataset):
    df = dataset(name)
    blocked = mixedlm.lmm(formula, df, solver="blocked")
    cholmod = mixedlm.lmm(formula, df, solver="cholmod")
    auto = mixedlm.lmm(formula, df)
    Z = oracle.dense_z(blocked)
    rng = np.random.default_rng(42)
    thetas = [blocked.theta0()] + [oracle.random_theta(blocked, rng) for _ in range(4)]
    thetas.append(oracle.random_theta(blocked, rng, zero_diag=1))
    for th in thetas:
        want = oracle.objective(blocked, th, reml, Z=Z)
        for m in (blocked, cholmod, auto):
            assert m.objective(th, reml) == pytest.approx(want, rel=RTOL), (m.solver.name, th)


@pytest.fixture(scope="module")
def insteval_models():
    df = mixedlm.datasets.load("insteval")
    f = "y ~ 1 + service * dept + (1 | s) + (1 | d)"
    return (mixedlm.lmm(f, df, solver="blocked"), mixedlm.lmm(f, df, solver="cholmod"))


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_solvers_agree_on_insteval(insteval_models, reml):
    """Too large for the oracle (q = 4100): blocked and CHOLMOD must agree."""
    blocked, cholmod = insteval_models
    for th in ([0.3, 0.45], [1.0, 1.0]):
        a, b = blocked.objective(th, reml), cholmod.objective(th, reml)
        assert a == pytest.approx(b, rel=1e-10)
