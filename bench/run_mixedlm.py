"""Time one model fit with this project's ``mixedlm``; run in the dev venv.

Usage::

    .venv/bin/python bench/run_mixedlm.py --model insteval_full --reps 5

A timed fit is ``mixedlm.lmm(formula, df).fit(reml=False)`` from an
in-memory DataFrame: formula parsing and model construction are included,
reading the CSV is not.  Construction alone (``mixedlm.lmm``) is timed
separately as well.  When the engine is missing the result carries an
``error`` field and no timings.
"""

from __future__ import annotations

import argparse
from typing import Any

import _data
import _timing
from models import BY_KEY


def import_engine():
    """Import this project's ``mixedlm`` and check it has ``lmm``.

    The installed package is preferred; failing that, the repository root
    is tried (an in-place build).

    Returns
    -------
    module
        The imported ``mixedlm`` module.

    Raises
    ------
    ImportError
        When no importable ``mixedlm`` with ``lmm`` exists.
    """
    import importlib
    import sys

    try:
        mod = importlib.import_module("mixedlm")
    except ImportError:
        sys.path.insert(0, str(_data.DATA_DIR.parents[2]))
        mod = importlib.import_module("mixedlm")
    if not hasattr(mod, "lmm"):
        raise ImportError(f"mixedlm at {getattr(mod, '__file__', '?')} has no lmm()")
    return mod


def _version(mod) -> str:
    try:
        from importlib import metadata

        return metadata.version("pymixedlm")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return str(getattr(mod, "__version__", "unknown"))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, fit, print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted(BY_KEY))
    parser.add_argument("--reps", type=int, default=5, help="0 = one single fit")
    args = parser.parse_args(argv)

    model = BY_KEY[args.model]
    out: dict[str, Any] = {"package": "mixedlm", "model": model.key}
    df = _data.load(model.dataset)
    try:
        mlm = import_engine()
        out["version"] = _version(mlm)
        out["path"] = getattr(mlm, "__file__", None)

        def whole_fit():
            return mlm.lmm(model.formula, df).fit(reml=False, verbose=False)

        res, times = _timing.measure(whole_fit, args.reps)
        out.update(_timing.summarize(times))
        out["objective"] = float(res.objective)
        out["feval"] = int(res.optsum.feval)
        out["theta"] = [float(t) for t in res.theta]
        if args.reps > 0:
            _, ctimes = _timing.measure(lambda: mlm.lmm(model.formula, df), args.reps)
            out["construct"] = _timing.summarize(ctimes)
    except Exception as exc:  # noqa: BLE001 - report, never crash the benchmark
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    out["blas"] = _timing.blas_info()
    out["peak_rss_mb_self"] = _timing.peak_rss_mb()
    _timing.emit(out)


if __name__ == "__main__":
    main()
