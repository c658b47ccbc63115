"""The fit driver: minimise the profiled objective over theta.

One grouping factor: L-BFGS-B (SciPy) with the analytic gradient of the dense
solver. Several factors: BOBYQA from nlopt, the derivative-free algorithm that
lme4 and MixedModels.jl use, with MixedModels.jl's initial steps.
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
#: projected gradient at the best point is below this (objective units).
PROJECTED_GRADIENT_TOL = 1e-3
BOBYQA_TOLERANCES = {"ftol_abs": 1e-8, "ftol_rel": 1e-12, "xtol_abs": 1e-10}


class _Evaluator:
    """Counts, logs and optionally prints each evaluation (``f_1: 327.76702, [1.0]``)."""

    def __init__(self, fn: Callable, verbose: bool) -> None:
        self.fn, self.verbose, self.log = fn, verbose, []

    def __call__(self, theta: NDArray[np.float64], grad: NDArray[np.float64] | None = None
                 ) -> float:
        theta = np.array(theta, dtype=np.float64)
        f = float(self.fn(theta, grad))
        self.log.append((theta, f))
        if self.verbose:
            print(f"f_{len(self.log)}: {f:.5f}, [{', '.join(repr(float(t)) for t in theta)}]")
        return f


def optimize_theta(fn: Callable, x0: NDArray[np.float64], lower: NDArray[np.float64],
                   use_gradient: bool, reml: bool, verbose: bool = False) -> OptSummary:
    """Minimise ``fn(theta, grad)`` from ``x0`` subject to ``theta >= lower``.

    ``fn`` returns the objective and, when ``grad`` is an array, writes the
    gradient into it.
    """
    ev = _Evaluator(fn, verbose)
    if use_gradient:
        opt = OptSummary("L-BFGS-B", x0.copy(), lower.copy(), reml=reml,
                         tolerances=dict(LBFGSB_OPTIONS))

        def fun(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            g = np.empty(len(x))
            return ev(x, g), g

        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
        res = so.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                          options=LBFGSB_OPTIONS)
        opt.returnvalue = str(res.message)
        opt.converged = bool(res.success)
        if not res.success:
            best = min(ev.log, key=lambda t: t[1])[0]
            g = np.empty(len(best))
            fn(best, g)
            pg = np.where((best <= lower) & (g > 0), 0.0, g)  # projected on the bounds
            opt.tolerances["projected_gradient"] = float(np.max(np.abs(pg)))
            opt.converged = bool(np.max(np.abs(pg)) <= PROJECTED_GRADIENT_TOL)
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
    opt.feval, opt.fitlog = len(ev.log), ev.log
    return opt
