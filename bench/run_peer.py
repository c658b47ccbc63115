"""Time one model fit with a Python peer package; run in the peer's own venv.

Usage::

    bench/.envs/glmm/bin/python bench/run_peer.py --package glmm --model sleepstudy --reps 20

Peers and the settings used (chosen to skip post-fit inference that
lme4 with ``calc.derivs=FALSE`` does not do either):

``glmm``
    ``glmm.fit(df, formula, reml=False, satterthwaite=False, wald_se="rx",
    anova_test="Wald")``; objective ``-2 * fit.loglik``; evaluations
    ``fit.n_eval`` (plus ``fit.n_grad`` gradient evaluations).
``mixedlm_rust``
    The PyPI package ``mixedlm`` (Rust backend, unrelated to this project):
    ``mixedlm.lmer(formula, df, REML=False,
    control=mixedlm.lmerControl(calc_derivs=False))``; objective
    ``fit.deviance``; evaluations ``fit.function_evals``.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any

import _data
import _timing
from models import BY_KEY


def _glmm_fitter(formula: str) -> tuple[Callable[[Any], Any], Callable[[Any], dict]]:
    import glmm

    def fit(df):
        return glmm.fit(
            df, formula, reml=False, satterthwaite=False, wald_se="rx", anova_test="Wald"
        )

    def describe(res) -> dict:
        return {
            "objective": -2.0 * float(res.loglik),
            "feval": int(res.n_eval),
            "ngrad": int(res.n_grad),
            "converged": bool(res.converged),
        }

    return fit, describe


def _rust_fitter(formula: str) -> tuple[Callable[[Any], Any], Callable[[Any], dict]]:
    import mixedlm

    if not hasattr(mixedlm, "lmer"):  # this project's mixedlm shadowing the peer
        raise ImportError(f"{mixedlm.__file__} is not the PyPI Rust mixedlm")
    ctrl = mixedlm.lmerControl(calc_derivs=False)

    def fit(df):
        return mixedlm.lmer(formula, df, REML=False, control=ctrl)

    def describe(res) -> dict:
        return {
            "objective": float(res.deviance),
            "feval": int(res.function_evals),
            "optimizer": str(res.optimizer),
            "converged": bool(res.converged),
            "theta": [float(t) for t in res.theta],
        }

    return fit, describe


#: package key -> (distribution name, fitter factory)
PEERS = {
    "glmm": ("glmm", _glmm_fitter),
    "mixedlm_rust": ("mixedlm", _rust_fitter),
}


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, fit, print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, choices=sorted(PEERS))
    parser.add_argument("--model", required=True, choices=sorted(BY_KEY))
    parser.add_argument("--reps", type=int, default=5, help="0 = one single fit")
    args = parser.parse_args(argv)

    model = BY_KEY[args.model]
    dist, factory = PEERS[args.package]
    out: dict[str, Any] = {
        "package": args.package,
        "model": model.key,
        "version": metadata.version(dist),
    }
    df = _data.load(model.dataset)
    try:
        fit, describe = factory(model.formula)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res, times = _timing.measure(lambda: fit(df), args.reps)
        out.update(describe(res))
        out.update(_timing.summarize(times))
    except Exception as exc:  # noqa: BLE001 - report, never crash the benchmark
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    out["blas"] = _timing.blas_info()
    out["peak_rss_mb_self"] = _timing.peak_rss_mb()
    _timing.emit(out)


if __name__ == "__main__":
    main()
