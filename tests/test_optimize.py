"""The fit driver (``mixedlm._optimize``) on functions with known minima.

L-BFGS-B runs on log(theta) for the diagonal entries; a diagonal heading for
0 (a singular fit) is finished on the linear scale; a line search probing
rounding noise at a converged point is stopped; a restart at the best point
reuses its evaluation.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from mixedlm import _optimize
from mixedlm._optimize import optimize_theta


class Counted:
    """f(theta) with its gradient, counting the real evaluations."""

    def __init__(self, f, g):
        self.f, self.g, self.calls = f, g, 0

    def __call__(self, theta, grad=None):
        self.calls += 1
        if grad is not None:
            grad[:] = self.g(theta)
        return self.f(theta)


def quadratic_in_log(target, eps=1e-12):
    """Minimum at theta = target (> 0), one theta per entry; even in theta and
    finite at 0 (like a profiled deviance): log(theta) is smoothed as
    0.5 log(theta^2 + eps)."""
    t = np.log(np.asarray(target, dtype=float))

    def lg(th):
        return 0.5 * np.log(th * th + eps)

    return Counted(lambda th: float(np.sum((lg(th) - t) ** 2)),
                   lambda th: 2.0 * (lg(th) - t) * th / (th * th + eps))


def test_log_scale_reaches_an_interior_minimum():
    fn = quadratic_in_log([0.3, 2.5])
    opt = optimize_theta(fn, np.ones(2), np.zeros(2), use_gradient=True, reml=False)
    np.testing.assert_allclose(opt.final, [0.3, 2.5], rtol=1e-6)
    assert opt.converged and opt.feval == fn.calls
    assert all(t.min() > 0 for t, _ in opt.fitlog)


def test_unbounded_entries_stay_on_the_linear_scale():
    """An off-diagonal entry (lower bound -inf) may go negative."""
    fn = Counted(lambda th: (np.log(th[0]) - np.log(0.4)) ** 2 + (th[1] + 0.7) ** 2,
                 lambda th: np.array([2 * (np.log(th[0]) - np.log(0.4)) / th[0],
                                      2 * (th[1] + 0.7)]))
    opt = optimize_theta(fn, np.array([1.0, 0.0]), np.array([0.0, -np.inf]),
                         use_gradient=True, reml=False)
    np.testing.assert_allclose(opt.final, [0.4, -0.7], rtol=1e-6, atol=1e-8)


def test_singular_minimum_is_finished_on_the_linear_scale():
    """f even in theta with its minimum at 0: the log scale cannot reach it."""
    fn = Counted(lambda th: float(np.sum(th ** 2)) + 3.0, lambda th: 2.0 * th)
    opt = optimize_theta(fn, np.ones(1), np.zeros(1), use_gradient=True, reml=False)
    assert opt.final[0] == 0.0 and opt.fmin == 3.0 and opt.converged
    assert fn.calls < 15
    # it went below the switch point only on the linear scale
    small = [t[0] for t, _ in opt.fitlog if 0 < t[0] < _optimize.LOG_SCALE_SWITCH]
    assert len(small) <= 2


def test_restart_at_the_best_point_reuses_its_evaluation():
    fn = Counted(lambda th: float(np.sum(th ** 2)), lambda th: 2.0 * th)
    opt = optimize_theta(fn, np.ones(1), np.zeros(1), use_gradient=True, reml=False)
    thetas = [tuple(t) for t, _ in opt.fitlog]
    assert len(thetas) == len(set(thetas)) == fn.calls == opt.feval


@pytest.mark.parametrize("start", [3.0, 0.2])
def test_rounding_noise_stops_the_line_search(start):
    """Objective values quantised at 1e-7 around a converged point: the line
    search can only probe noise; the run stops there, converged."""
    t = np.log(0.5)

    def d(th):
        return np.log(th) - t

    fn = Counted(lambda th: round(float(d(th[0]) ** 2 + d(th[0]) ** 4 + 1.0), 7),
                 lambda th: (2.0 * d(th) + 4.0 * d(th) ** 3) / th)
    opt = optimize_theta(fn, np.array([start]), np.zeros(1), use_gradient=True, reml=False)
    assert opt.returnvalue == _optimize.STALLED
    assert opt.converged and abs(opt.final[0] - 0.5) < 1e-4
    assert fn.calls <= 15


def _large_objective_with_gradient_noise():
    """A deviance of 3e6 (a 1M-row fit) that is flat, to its rounding, within
    1e-4 of its minimum in log(theta), while its gradient carries an error of
    6e-3 there: the situation of the 20,000 x 2,000 crossed design at 1M rows,
    whose line search kept probing such a point."""
    t = np.log(np.array([0.6, 0.4]))

    def d(th):
        return np.log(th) - t

    def excess(th):
        return np.sign(d(th)) * np.maximum(np.abs(d(th)) - 1e-4, 0.0)

    return Counted(lambda th: float(3e6 + 1e5 * np.sum(excess(th) ** 2)),
                   lambda th: (2e5 * excess(th) + 6e-3) / th)


def test_gradient_tolerance_grows_with_the_objective():
    assert _optimize.gradient_tolerance(1752.0) == _optimize.PROJECTED_GRADIENT_TOL
    assert _optimize.gradient_tolerance(-2.9e6) == pytest.approx(2.9e-2)


def test_iteration_limit_is_not_converged_whatever_the_objective(monkeypatch):
    """Stopped by the iteration limit away from the minimum: not converged, also
    when |f| is large (the relative tolerance is for a stalled search only)."""
    monkeypatch.setitem(_optimize.LBFGSB_OPTIONS, "maxiter", 2)
    for offset in (0.0, 1e10):  # 1e-8 |f| = 100 would exceed its gradient (about 50)
        fn = Counted(lambda th, o=offset: float(o + np.sum((th - [0.6, 0.4]) ** 2) * 1e3),
                     lambda th: 2e3 * (th - [0.6, 0.4]))
        opt = optimize_theta(fn, np.ones(2), np.zeros(2), use_gradient=True, reml=False)
        assert not opt.converged and opt.tolerances["projected_gradient"] > 1e-1


def test_large_objective_stops_at_its_rounding_level(monkeypatch):
    """The line search cannot see a decrease past the objective's rounding;
    the run stops there, converged, in fewer evaluations than with an absolute
    tolerance alone (which lets it probe the noise until L-BFGS-B gives up)."""
    fn = _large_objective_with_gradient_noise()
    opt = optimize_theta(fn, np.ones(2), np.zeros(2), use_gradient=True, reml=False)
    assert opt.returnvalue == _optimize.STALLED and opt.converged
    np.testing.assert_allclose(opt.final, [0.6, 0.4], rtol=2e-4)
    assert opt.fmin == 3e6 and 1e-3 < opt.tolerances["projected_gradient"] < 2e-2
    calls = fn.calls
    monkeypatch.setattr(_optimize, "PROJECTED_GRADIENT_RTOL", 0.0)
    absolute = _large_objective_with_gradient_noise()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # L-BFGS-B probing far steps
        opt_abs = optimize_theta(absolute, np.ones(2), np.zeros(2), use_gradient=True,
                                 reml=False)
    assert absolute.calls > calls
    assert opt_abs.fmin == pytest.approx(opt.fmin, rel=1e-15)


@pytest.mark.parametrize("start", [0.01, 1.0, 50.0])
def test_start_anywhere_positive(start):
    fn = quadratic_in_log([1.7])
    opt = optimize_theta(fn, np.array([start]), np.zeros(1), use_gradient=True, reml=False)
    assert opt.final[0] == pytest.approx(1.7, rel=1e-6)


def test_scaled_log_coordinates_reach_the_same_minimum():
    """theta_scales only reshapes the search space, not its minimum."""
    fn = quadratic_in_log([0.3, 0.05 + 0.03, 2.0])
    for scale in (None, np.array([1.0, 0.1, 0.5])):
        opt = optimize_theta(fn, np.ones(3), np.zeros(3), use_gradient=True, reml=False,
                             scale=scale)
        np.testing.assert_allclose(opt.final, [0.3, 0.08, 2.0], rtol=1e-6)


def test_theta_scales_follow_the_number_of_levels():
    import mixedlm
    from mixedlm import datasets
    from mixedlm._terms import theta_scales

    m = mixedlm.lmm("strength ~ 1 + (1|batch/cask)", datasets.load("pastes"))
    # batch:cask has 30 levels, batch 10 (lme4's order: most levels first)
    np.testing.assert_allclose(theta_scales(m.terms), [1.0, np.sqrt(10 / 30)])
    s = mixedlm.lmm("Reaction ~ 1 + Days + (1 + Days|Subject)", datasets.load("sleepstudy"))
    np.testing.assert_allclose(theta_scales(s.terms), np.ones(3))


def test_zero_is_not_mistaken_for_a_minimum():
    """Even in theta with its minimum at 0.3 and a maximum at 0: a step that
    reaches 0 must not end the search there (the gradient vanishes at 0)."""
    fn = Counted(lambda th: float((th[0] ** 2 - 0.09) ** 2), lambda th: 4.0 * th * (th * th - 0.09))
    for start in (1.0, 0.2, 0.04, 0.0):
        opt = optimize_theta(fn, np.array([start]), np.zeros(1), use_gradient=True,
                             reml=False)
        if start == 0.0:  # a start exactly at the maximum cannot leave it
            continue
        assert opt.final[0] == pytest.approx(0.3, rel=1e-4), start
        assert opt.final[0] > 0


def test_negative_diagonal_is_reported_by_its_column():
    """A negative diagonal comes back positive with its column (the entries
    below it in the same factor) negated: the same Lambda Lambda'."""
    th = np.array([-0.5, 0.2, 1.0, -0.3])
    lower = np.array([0.0, -np.inf, 0.0, 0.0])
    cols = np.array([0, 0, 2, 3])  # a 2x2 factor (entries 0-2), then a scalar term
    out = _optimize._nonnegative_diagonal(th, lower, cols)
    np.testing.assert_array_equal(out, [0.5, -0.2, 1.0, 0.3])


@pytest.mark.parametrize("seed", [6, 17, 21, 43, 51])
def test_gradient_fits_match_bobyqa_on_weak_variance_components(seed):
    """Designs where a variance component is small or 0 (where a projected
    gradient step used to stop on theta = 0 above the minimum): the L-BFGS-B
    fit is at least as good as BOBYQA's (lme4's optimizer) on the same model."""
    import pandas as pd

    import mixedlm

    rng = np.random.default_rng(seed)
    n, ng, nh = int(rng.integers(200, 600)), int(rng.integers(5, 40)), int(rng.integers(3, 15))
    g, h, x = rng.integers(0, ng, n), rng.integers(0, nh, n), rng.standard_normal(n)
    y = (1 + 0.5 * x + 0.05 * rng.standard_normal(ng)[g] + rng.standard_normal(n))
    df = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g), "h": pd.Categorical(h)})
    for f in ["y ~ 1 + x + (1|g) + (1|h)", "y ~ 1 + x + (1|g)", "y ~ 1 + x + (1 + x|g)"]:
        m = mixedlm.lmm(f, df)
        for reml in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # singular fits are expected here
                r = m.fit(reml=reml)
            bob = optimize_theta(lambda th, gr=None, s=m.solver, rm=reml: s.objective(th, rm),
                                 m.theta0(), m.lower, False, reml).fmin
            assert r.objective <= bob + 1e-10 * abs(bob), (f, reml, r.theta)
            assert np.all(r.theta[m.lower == 0.0] >= 0.0)
