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
