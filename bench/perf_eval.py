"""Per-evaluation cost on InstEval against one dense LAPACK Cholesky.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/perf_eval.py --reps 20

Two timings in one process, same BLAS and thread setting, interleaved:

* one ``m.objective(theta)`` of this project's ``mixedlm`` on
  ``y ~ 1 + service*dept + (1|s) + (1|d)`` (ML) at the optimum theta
  (from a fit, or lme4's reference optimum when the fit is unavailable);
* one ``scipy.linalg.lapack.dpotrf`` (lower) of the filled 1128 x 1128
  instructor block that any exact method has to factor,

  S = lam_d^2 Z_d'Z_d + I
      - lam_d^2 lam_s^2 Z_d'Z_s diag(1 / (lam_s^2 n_s + 1)) Z_s'Z_d,

  built densely with numpy from the data (``n_s`` = rows per student).

The ratio objective / dpotrf is the issue target (<= 1.3).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _data
import _timing
import numpy as np
from run_mixedlm import import_engine
from scipy.linalg import lapack

FORMULA = "y ~ 1 + service*dept + (1|s) + (1|d)"
#: lme4's ML optimum (lme4_public.json, insteval_full_ML), order (s, d).
THETA_REF = (0.275915015513512, 0.431994089625323)


def instructor_block(df, lam_s: float, lam_d: float) -> np.ndarray:
    """Dense Schur complement of the student block, Fortran order.

    Parameters
    ----------
    df : pandas.DataFrame
        InstEval with categorical ``s`` and ``d``.
    lam_s, lam_d : float
        Relative standard deviations of the student and instructor effects.

    Returns
    -------
    numpy.ndarray
        Symmetric positive definite ``(n_d, n_d)`` array.
    """
    s = df["s"].cat.codes.to_numpy().astype(np.int64)
    d = df["d"].cat.codes.to_numpy().astype(np.int64)
    ns_lev, nd_lev = len(df["s"].cat.categories), len(df["d"].cat.categories)
    n_s = np.bincount(s, minlength=ns_lev).astype(float)
    n_d = np.bincount(d, minlength=nd_lev).astype(float)
    cross = np.bincount(d * ns_lev + s, minlength=nd_lev * ns_lev)
    cross = cross.reshape(nd_lev, ns_lev).astype(float)  # Z_d'Z_s
    weight = 1.0 / (lam_s**2 * n_s + 1.0)
    block = -(lam_d**2 * lam_s**2) * ((cross * weight) @ cross.T)
    block[np.diag_indices(nd_lev)] += lam_d**2 * n_d + 1.0
    return np.asfortranarray(block)


def time_dpotrf(block: np.ndarray, reps: int) -> list[float]:
    """Time ``dpotrf`` in place on fresh copies of ``block``.

    The copy is made outside the timed region; the first call is a warm-up.
    """
    work = np.empty_like(block, order="F")
    times = []
    for i in range(reps + 1):
        np.copyto(work, block)
        start = time.perf_counter()
        _, info = lapack.dpotrf(work, lower=1, clean=0, overwrite_a=1)
        elapsed = time.perf_counter() - start
        if info != 0:
            raise np.linalg.LinAlgError(f"dpotrf info={info}")
        if i:
            times.append(elapsed)
    return times


def main(argv: list[str] | None = None) -> None:
    """Run both timings and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args(argv)

    df = _data.load("insteval")
    out: dict[str, Any] = {"formula": FORMULA}
    theta = np.array(THETA_REF)
    try:
        mlm = import_engine()
        model = mlm.lmm(FORMULA, df)
        try:
            fitted = np.asarray(model.fit(reml=False, verbose=False).theta, dtype=float)
        except Exception as exc:  # noqa: BLE001 - fall back to the reference theta
            out["theta_source"] = f"lme4 reference (fit failed: {type(exc).__name__})"
        else:
            # Guard against a broken fit: keep its theta only near lme4's optimum.
            if fitted.shape == theta.shape and np.allclose(fitted, theta, rtol=0.05):
                theta = fitted
                out["theta_source"] = "mixedlm fit"
            else:
                out["theta_source"] = f"lme4 reference (fit gave theta {fitted.tolist()})"
        out["objective_value"] = float(model.objective(theta))
    except Exception as exc:  # noqa: BLE001 - engine n/a; dpotrf still timed
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        model = None
    out["theta"] = theta.tolist()

    block = instructor_block(df, lam_s=theta[0], lam_d=theta[1])
    out["block_shape"] = list(block.shape)
    # Interleaved: one objective, one dpotrf, and again, so that a drift in the
    # machine's speed (shared hosts vary by tens of percent within a minute)
    # affects both sides of the ratio alike. Two warm-up rounds.
    t_obj: list[float] = []
    t_chol: list[float] = []
    for i in range(args.reps + 2):
        if model is not None:
            start = time.perf_counter()
            model.objective(theta)
            elapsed = time.perf_counter() - start
            if i >= 2:
                t_obj.append(elapsed)
        t = time_dpotrf(block, 1)
        if i >= 2:
            t_chol.extend(t)
    if t_obj:
        out["objective"] = _timing.summarize(t_obj)
    out["dpotrf"] = _timing.summarize(t_chol)
    if out.get("objective"):
        out["ratio"] = out["objective"]["median"] / out["dpotrf"]["median"]
    out["blas"] = _timing.blas_info()
    _timing.emit(out)


if __name__ == "__main__":
    main()
