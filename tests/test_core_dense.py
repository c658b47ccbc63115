"""The dense single-factor solver (``_core._dense``): objective and analytic gradient.

Every value is checked against the dense NumPy oracle in ``_oracle.py`` at
seeded random theta (feasible, with negative off-diagonals and some diagonals
exactly on the boundary 0), for ML and REML.
"""
from __future__ import annotations

import _oracle as oracle
import numpy as np
import pytest

import mixedlm

RTOL = 1e-10  # objective vs the oracle: both are direct factorizations

# (id, formula, number of theta) - all with one grouping factor
SINGLE_FACTOR = [
    ("scalar", "y ~ 1 + x + (1|g)", 1),
    ("vector", "y ~ 1 + x + (1 + x|g)", 3),
    ("vector3", "y ~ 1 + x + x2 + (1 + x + x2|g)", 6),
    ("two_terms", "y ~ 1 + x + (1|g) + (0 + x|g)", 2),
    ("double_bar", "y ~ 1 + x + (x||g)", 2),
    ("mixed_terms", "y ~ 1 + x + (1 + x|g) + (0 + x2|g)", 4),
    ("interaction", "y ~ 1 + x + (1|a:b)", 1),
    ("int_grouping", "y ~ 1 + x2 + (1 + x|h)", 3),
    ("no_fixed", "y ~ 0 + (1 + x|g)", 3),
]
GRADIENT_MODELS = [s for s in SINGLE_FACTOR
                   if s[0] in ("scalar", "vector", "two_terms", "double_bar", "mixed_terms",
                               "vector3", "no_fixed")]


@pytest.fixture(params=SINGLE_FACTOR, ids=[s[0] for s in SINGLE_FACTOR])
def single_model(request, sim_df):
    _, formula, ntheta = request.param
    m = mixedlm.lmm(formula, sim_df)
    assert m.solver.name == "dense"
    assert len(m.blocks) == 1
    assert m.ntheta == ntheta
    return m


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_objective_matches_oracle(single_model, reml):
    m = single_model
    Z = oracle.dense_z(m)
    for i, th in enumerate(oracle.theta_set(m, seed=1000 + m.ntheta)):
        got = m.objective(th, reml=reml)
        want = oracle.objective(m, th, reml, Z=Z)
        assert got == pytest.approx(want, rel=RTOL), (i, th.tolist(), got, want)


def test_block_templates_follow_lme4_theta_order(single_model):
    """The oracle built from the blocks' templates equals the one built per term
    from lme4's column-wise lower-triangular theta convention."""
    m = single_model
    rng = np.random.default_rng(7)
    for _ in range(3):
        th = oracle.random_theta(m, rng)
        for reml in (False, True):
            a = oracle.objective(m, th, reml, source="blocks")
            b = oracle.objective(m, th, reml, source="terms")
            assert a == pytest.approx(b, rel=1e-12)


def test_repeated_evaluation_is_stateless(single_model):
    """Workspaces are reused between calls; values must not depend on history."""
    m = single_model
    rng = np.random.default_rng(3)
    t1, t2 = oracle.random_theta(m, rng), oracle.random_theta(m, rng)
    first = m.objective(t1)
    m.objective(t2, reml=True)
    m.gradient(t2)
    assert m.objective(t1) == first


def test_objective_at_zero_is_ols(sim_df):
    """theta = 0: no random effects, the ML deviance of the OLS fit."""
    m = mixedlm.lmm("y ~ 1 + x + (1 + x|g)", sim_df)
    X, y = m.X, m.y
    n = len(y)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ beta) ** 2))
    want = n * (1 + np.log(2 * np.pi * rss / n))
    assert m.objective(np.zeros(3)) == pytest.approx(want, rel=RTOL)


# ---------------------------------------------------------------------------
# Analytic gradient vs central differences of the oracle
# ---------------------------------------------------------------------------

GRAD_RTOL, GRAD_ATOL = 1e-5, 1e-6


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("spec", GRADIENT_MODELS, ids=[s[0] for s in GRADIENT_MODELS])
def test_gradient_matches_finite_differences(spec, reml, sim_df):
    _, formula, _ = spec
    m = mixedlm.lmm(formula, sim_df)
    assert m.solver.has_gradient
    rng = np.random.default_rng(2024 + m.ntheta)
    thetas = [m.theta0()] + [oracle.random_theta(m, rng) for _ in range(3)]
    for th in thetas:
        got = m.gradient(th, reml=reml)
        want = oracle.fd_gradient(m, th, reml)
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL,
                                   err_msg=f"theta={th.tolist()}")


@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("spec", GRADIENT_MODELS, ids=[s[0] for s in GRADIENT_MODELS])
def test_gradient_at_boundary(spec, reml, sim_df):
    """A diagonal of theta exactly 0 (and, for vector terms, non-zero off-diagonals).

    The objective is smooth through the boundary (the oracle accepts negative
    diagonals), so central differences give the derivative the optimizer sees.
    """
    _, formula, _ = spec
    m = mixedlm.lmm(formula, sim_df)
    rng = np.random.default_rng(99 + m.ntheta)
    diag = np.flatnonzero(m.lower == 0.0)
    for j in diag:
        th = oracle.random_theta(m, rng)
        th[j] = 0.0
        got = m.gradient(th, reml=reml)
        want = oracle.fd_gradient(m, th, reml)
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL,
                                   err_msg=f"theta={th.tolist()}")


def test_gradient_fills_and_objective_agree(sim_df):
    """The gradient call leaves the objective unchanged (same factorization)."""
    m = mixedlm.lmm("y ~ 1 + x + (1 + x|g)", sim_df)
    th = np.array([0.8, -0.3, 0.5])
    f = m.objective(th)
    g = m.gradient(th)
    assert g.shape == (3,) and np.all(np.isfinite(g))
    assert m.objective(th) == f


@pytest.mark.parametrize("formula", [
    "y ~ 1 + x + (1|g)",
    "y ~ 1 + x + (1 + x|g) + (0 + x2|g)",
    "y ~ 1 + x + (1 + x|g)",
], ids=["scalar", "mixed_terms", "vector"])
def test_dense_solution_matches_oracle(formula, sim_df):
    """beta, u and pwrss from the dense solver's factor at a random theta."""
    m = mixedlm.lmm(formula, sim_df)
    th = oracle.random_theta(m, np.random.default_rng(5))
    m.objective(th)
    beta, us, _, pwrss = m.solver.solution(th)
    o = oracle.solve(m, th)
    np.testing.assert_allclose(beta, o.beta, rtol=1e-9, atol=1e-12)
    assert pwrss == pytest.approx(o.pwrss, rel=1e-10)
    np.testing.assert_allclose(us[0], o.u_blocks[0], rtol=1e-8, atol=1e-10)
