"""L-BFGS-B (ours, with the analytic gradient) against BOBYQA (lme4's optimizer)
on simulated designs with small or zero variance components.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/optimizer_sweep.py SEED REPS

For each of REPS seeded data sets (40-800 rows; factors g, h, k with 2-50
levels; variance components drawn from {0, 0.02, 0.1, 0.5, 2, 10}) and each
model with a gradient (crossed, three-factor, nested, correlated and
uncorrelated slopes, intercept only), fit by ML and REML with ``fit()`` and
minimise the same objective with BOBYQA from lme4's start. Prints the number
of fits, the worst relative excess of our objective over BOBYQA's, the total
evaluations of each, and every fit that is worse than BOBYQA by more than
1e-9 relative, does not converge, or reports a negative diagonal.
Results of the runs cited in the README: ``bench/optimizer_sweep.md``.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

import mixedlm
from mixedlm import _optimize

MODELS = ["y ~ 1 + x + (1|g) + (1|h)", "y ~ 1 + x + (1|g) + (1|h) + (1|k)",
          "y ~ 1 + x + (1|g/h)", "y ~ 1 + x + (1 + x|g)", "y ~ 1 + x + (x||g)",
          "y ~ 1 + (1|g)"]


def simulate(rng: np.random.Generator) -> pd.DataFrame:
    """One data set with random sizes and variance components."""
    n, ng, nh, nk = (int(rng.integers(40, 800)), int(rng.integers(2, 50)),
                     int(rng.integers(2, 20)), int(rng.integers(2, 8)))
    s = rng.choice([0.0, 0.02, 0.1, 0.5, 2.0, 10.0], size=4)
    g, h, k = rng.integers(0, ng, n), rng.integers(0, nh, n), rng.integers(0, nk, n)
    x = rng.standard_normal(n)
    y = (1 + 0.5 * x + s[0] * rng.standard_normal(ng)[g] + s[1] * rng.standard_normal(nh)[h]
         + s[2] * rng.standard_normal(nk)[k] + s[3] * x * rng.standard_normal(ng)[g]
         + rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g), "h": pd.Categorical(h),
                         "k": pd.Categorical(k)})


def main(seed: int, reps: int) -> None:
    warnings.simplefilter("ignore")  # singular fits are the point here
    rng = np.random.default_rng(seed)
    worst, flagged, nfit, ev_ours, ev_bob = 0.0, [], 0, 0, 0
    for rep in range(reps):
        df = simulate(rng)
        for f in MODELS:
            try:
                m = mixedlm.lmm(f, df)
            except ValueError:  # e.g. a factor with as many levels as rows
                continue
            if not m.solver.has_gradient:
                continue
            for reml in (False, True):
                r = m.fit(reml=reml)
                bob = _optimize.optimize_theta(
                    lambda th, g=None, s=m.solver, rm=reml: s.objective(th, rm),
                    m.theta0(), m.lower, False, reml)
                nfit += 1
                ev_ours += r.optsum.feval
                ev_bob += bob.feval
                d = (r.objective - bob.fmin) / abs(bob.fmin)
                worst = max(worst, d)
                if (d > 1e-9 or not r.optsum.converged
                        or np.any(r.theta[m.lower == 0.0] < 0.0)):
                    flagged.append((rep, f, reml, d, r.optsum.returnvalue,
                                    np.round(r.theta, 4).tolist()))
    print(f"seed {seed}: fits {nfit}, worst relative excess over BOBYQA {worst:.2e}, "
          f"evaluations ours {ev_ours} / BOBYQA {ev_bob}, flagged {len(flagged)}")
    for row in flagged:
        print(row)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
