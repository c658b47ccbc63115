"""The fit driver: minimise the profiled objective over theta.

Whenever the solver has an analytic gradient (one grouping factor, or scalar
terms on the blocked solver): L-BFGS-B (SciPy), with the diagonal entries of
theta on a scaled log scale, finished on the linear scale without a bound at 0
when a variance heads for 0 (the objective is even in each diagonal with its
column, so 0 is an interior point there; a bound at 0 would let a projected
step stop on it even where 0 is a maximum). The reported theta has every
diagonal >= 0, as lme4's. Otherwise: BOBYQA from nlopt, the derivative-free
algorithm that lme4 and MixedModels.jl use, with MixedModels.jl's initial steps.
"""
from __future__ import annotations

from collections.abc import Callable

import nlopt
import numpy as np
import scipy.optimize as so
from numpy.typing import NDArray

from ._optsummary import OptSummary

# Chosen on the 18 lme4 reference fits: every fit converges, none ends above
# lme4's objective by more than 1e-14 relative, and fewer evaluations than lme4.
LBFGSB_OPTIONS = {"ftol": 1e-12, "gtol": 1e-6, "maxiter": 1000, "maxls": 40}
#: A line search that stalls (L-BFGS-B's "ABNORMAL") counts as converged when the
#: projected gradient at the best point is below this (objective units) or, for
#: large objectives, below PROJECTED_GRADIENT_RTOL |f|: the objective is
#: resolved only to about eps |f|, so near a minimum with curvature H the
#: gradient is resolved only to about sqrt(eps |f| H), and H grows with the
#: rows as |f| does. Measured on the 20,000 x 2,000 crossed design at 1M rows
#: (|f| = 2.9e6): the line search kept probing a point whose gradient was
#: 6.4e-3, 10 of the fit's 19 evaluations, all within 1e-9 of its objective.
PROJECTED_GRADIENT_TOL = 1e-3
PROJECTED_GRADIENT_RTOL = 1e-8
#: With a gradient, the diagonal entries of theta (bounded below by 0) are
#: optimised on the log scale: the profiled deviance is closer to quadratic
#: there (measured: InstEval 8 and 15 evaluations against 11 and 21 on theta
#: itself). A diagonal that ends below LOG_SCALE_SWITCH (a fit heading for a
#: variance of 0) is finished on the linear scale.
LOG_SCALE_SWITCH = 0.05
#: Consecutive evaluations without improvement that end a run (see _lbfgsb),
#: and the message the optimizer summary then carries (its ``converged`` flag
#: comes from the projected gradient at the best point).
STALL_EVALS = 2
STALLED = "CONVERGENCE: NO DECREASE BEYOND ROUNDING AT THE BEST POINT"
BOBYQA_TOLERANCES = {"ftol_abs": 1e-8, "ftol_rel": 1e-12, "xtol_abs": 1e-10}


class _Evaluator:
    """Counts, logs and optionally prints each evaluation (``f_1: 327.76702, [1.0]``)."""

    def __init__(self, fn: Callable, verbose: bool) -> None:
        self.fn, self.verbose, self.log = fn, verbose, []
        self.last: tuple | None = None

    def __call__(self, theta: NDArray[np.float64], grad: NDArray[np.float64] | None = None
                 ) -> float:
        theta = np.array(theta, dtype=np.float64)
        if (self.last is not None and grad is not None and self.last[2] is not None
                and np.array_equal(theta, self.last[0])):
            # the same point again (a restart from the best point): no new evaluation
            grad[:] = self.last[2]
            return self.last[1]
        f = float(self.fn(theta, grad))
        self.last = (theta, f, None if grad is None else grad.copy())
        self.log.append((theta, f))
        if self.verbose:
            print(f"f_{len(self.log)}: {f:.5f}, [{', '.join(repr(float(t)) for t in theta)}]")
        return f


class _Stop(Exception):
    """Ends an L-BFGS-B run from inside the objective (see :func:`_lbfgsb`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def gradient_tolerance(f: float) -> float:
    """The projected-gradient size at which a stalled run at objective ``f`` is
    converged: PROJECTED_GRADIENT_TOL, or PROJECTED_GRADIENT_RTOL |f| when larger."""
    return max(PROJECTED_GRADIENT_TOL, PROJECTED_GRADIENT_RTOL * abs(f))


def _lbfgsb(ev: _Evaluator, theta0: NDArray[np.float64], lower: NDArray[np.float64],
            logscale: NDArray[np.bool_], scale: NDArray[np.float64] | None = None
            ) -> tuple[str, bool]:
    """L-BFGS-B from ``theta0``, on scale * log(theta) for the entries flagged
    ``logscale`` (diagonals of relative covariance factors, bounded below by 0;
    ``scale`` from ``_terms.theta_scales``) and on theta itself for the others.
    ``ev`` always sees theta.

    Returns L-BFGS-B's message and success flag, or ``("switch", False)`` when a
    log-scale entry was about to go below LOG_SCALE_SWITCH (the caller then
    finishes on the linear scale), or ``(STALLED, False)`` when, at a best
    point whose projected gradient is already within :func:`gradient_tolerance`,
    STALL_EVALS evaluations in a row did not improve the objective by a
    relative 1e-13: the line search is then probing rounding noise around a
    converged point (the caller checks the projected gradient there).
    """
    best = [np.inf]
    best_pg = [np.inf]
    stall = [0]

    sc = np.where(logscale, 1.0 if scale is None else scale, 1.0)

    def theta_of(u: NDArray[np.float64]) -> NDArray[np.float64]:
        th = u / sc
        th[logscale] = np.exp(th[logscale])
        return th

    def fun(u: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        th = theta_of(u)
        if np.any(th[logscale] < LOG_SCALE_SWITCH):
            raise _Stop("switch")
        g = np.empty(len(u))
        f = ev(th, g)
        if not np.isfinite(best[0]) or f < best[0] - 1e-13 * abs(best[0]):
            best[0], stall[0] = f, 0
            # d/dtheta projected on the bounds (the scale of the final check):
            # is the best point already stationary?
            at_bound = (th <= lower) & (g > 0)
            best_pg[0] = float(np.max(np.abs(np.where(at_bound, 0.0, g)), initial=0.0))
        elif best_pg[0] <= gradient_tolerance(best[0]):
            stall[0] += 1
            if stall[0] >= STALL_EVALS:
                raise _Stop(STALLED)
        g[logscale] *= th[logscale]  # chain rule: d/du = theta d/dtheta / scale
        return f, g / sc

    u0 = theta0.copy()
    u0[logscale] = np.log(theta0[logscale])
    u0 = u0 * sc
    # diagonal entries (lower bound 0) are searched on the whole real line: the
    # objective is even in them (with their column), so 0 is an interior point
    # where a minimum is found like any other, and never a bound that a
    # projected step lands on and mistakes for a stationary point
    bounds = [(None, None) if lg or lo == 0.0 else (lo if np.isfinite(lo) else None, None)
              for lg, lo in zip(logscale, lower)]
    try:
        res = so.minimize(fun, u0, jac=True, method="L-BFGS-B", bounds=bounds,
                          options=LBFGSB_OPTIONS)
    except _Stop as stop:
        return stop.reason, False
    return str(res.message), bool(res.success)


def _nonnegative_diagonal(theta: NDArray[np.float64], lower: NDArray[np.float64],
                          columns: NDArray[np.int64] | None) -> NDArray[np.float64]:
    """The same Lambda Lambda' with every diagonal entry >= 0: a column whose
    diagonal entry is negative is negated whole (``columns`` from
    ``_terms.theta_columns``; without it, each entry is its own column)."""
    th = theta.copy()
    cols = np.arange(len(th)) if columns is None else columns
    for d in np.flatnonzero((lower == 0.0) & (th < 0.0)):
        th[cols == d] *= -1.0
    return th + 0.0  # no -0.0


def optimize_theta(fn: Callable, x0: NDArray[np.float64], lower: NDArray[np.float64],
                   use_gradient: bool, reml: bool, verbose: bool = False,
                   scale: NDArray[np.float64] | None = None,
                   columns: NDArray[np.int64] | None = None) -> OptSummary:
    """Minimise ``fn(theta, grad)`` from ``x0`` subject to ``theta >= lower``.

    ``fn`` returns the objective and, when ``grad`` is an array, writes the
    gradient into it.
    """
    ev = _Evaluator(fn, verbose)
    if use_gradient:
        opt = OptSummary("L-BFGS-B", x0.copy(), lower.copy(), reml=reml,
                         tolerances=dict(LBFGSB_OPTIONS))
        logscale = (lower == 0.0) & (x0 >= LOG_SCALE_SWITCH)
        message, success = _lbfgsb(ev, x0, lower, logscale, scale)
        if message == "switch":
            # heading for a variance of 0 (a singular fit): finish on the linear
            # scale, where theta = 0 is a point, from the best theta so far
            best = min(ev.log, key=lambda t: t[1])[0]
            message, success = _lbfgsb(ev, best, lower, np.zeros_like(logscale))
        best = _nonnegative_diagonal(min(ev.log, key=lambda t: t[1])[0], lower, columns)
        opt.returnvalue = message
        opt.converged = success
        if not success:
            g = np.empty(len(best))
            fn(best, g)
            pg = np.where((best <= lower) & (g > 0), 0.0, g)  # projected on the bounds
            opt.tolerances["projected_gradient"] = float(np.max(np.abs(pg)))
            # the relative part only where no decrease beyond rounding was seen
            # (a stopped iteration count or line search says nothing of rounding)
            tol = (gradient_tolerance(min(f for _, f in ev.log)) if message == STALLED
                   else PROJECTED_GRADIENT_TOL)
            opt.converged = bool(np.max(np.abs(pg)) <= tol)
    else:
        opt = OptSummary("LN_BOBYQA", x0.copy(), lower.copy(), reml=reml,
                         tolerances=dict(BOBYQA_TOLERANCES))
        nl = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
        nl.set_lower_bounds(np.where(np.isfinite(lower), lower, -np.inf))
        nl.set_ftol_abs(BOBYQA_TOLERANCES["ftol_abs"])
        nl.set_ftol_rel(BOBYQA_TOLERANCES["ftol_rel"])
        nl.set_xtol_abs(BOBYQA_TOLERANCES["xtol_abs"])
        nl.set_maxeval(100_000)
        nl.set_initial_step(np.where(lower == 0.0, 0.75, 1.0))
        nl.set_min_objective(lambda x, g: ev(x))
        try:
            nl.optimize(x0.copy())
            code = nl.last_optimize_result()
        except nlopt.RoundoffLimited:
            code = nlopt.ROUNDOFF_LIMITED
        names = {nlopt.SUCCESS: "SUCCESS", nlopt.STOPVAL_REACHED: "STOPVAL_REACHED",
                 nlopt.FTOL_REACHED: "FTOL_REACHED", nlopt.XTOL_REACHED: "XTOL_REACHED",
                 nlopt.MAXEVAL_REACHED: "MAXEVAL_REACHED", nlopt.ROUNDOFF_LIMITED:
                 "ROUNDOFF_LIMITED"}
        opt.returnvalue = names.get(code, str(code))
        opt.converged = code in (nlopt.SUCCESS, nlopt.FTOL_REACHED, nlopt.XTOL_REACHED,
                                 nlopt.ROUNDOFF_LIMITED)
    best = min(range(len(ev.log)), key=lambda i: ev.log[i][1])
    opt.final, opt.fmin = ev.log[best][0].copy(), ev.log[best][1]
    if use_gradient:
        opt.final = _nonnegative_diagonal(opt.final, lower, columns)
    opt.feval, opt.fitlog = len(ev.log), ev.log
    return opt
