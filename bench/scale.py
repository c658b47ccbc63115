"""Scale test: construction and per-evaluation time on big crossed designs.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/scale.py --rows 1000000 4000000

For each size the seeded design of :mod:`_synth` (20,000 x 2,000 crossed
levels, identical levels at every size) is simulated untimed, then

* construction ``mixedlm.lmm(formula, df)`` is timed (median of
  ``--build-reps``; the first size also serves as the warm-up), and
* one ``m.objective(theta)`` at the true theta is timed
  (median of ``--eval-reps`` after one warm-up call).

Growth ratios of the last size over the first are reported (targets:
construction <= ~4x for 4x rows, per-evaluation growth <= 10%).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _synth
import _timing
from run_mixedlm import import_engine


def measure_size(mlm, df, theta, build_reps: int, eval_reps: int) -> dict[str, Any]:
    """Time construction and one objective evaluation on one design.

    Parameters
    ----------
    mlm : module
        This project's ``mixedlm``.
    df : pandas.DataFrame
        The simulated design.
    theta : numpy.ndarray
        Where the objective is evaluated.
    build_reps, eval_reps : int
        Repetitions of the construction and of the evaluation.

    Returns
    -------
    dict
        ``construct`` and ``objective`` timing summaries and the value.
    """
    models = []
    _, btimes = _timing.measure(
        lambda: models.append(mlm.lmm(_synth.FORMULA, df)), build_reps, warmup=0
    )
    model = models[-1]
    del models[:-1]
    _, etimes = _timing.measure(lambda: model.objective(theta), eval_reps)
    return {
        "construct": _timing.summarize(btimes),
        "objective": _timing.summarize(etimes),
        "objective_value": float(model.objective(theta)),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the scale measurements and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--nlev", type=int, nargs=2, default=[20_000, 2_000])
    parser.add_argument("--build-reps", type=int, default=3)
    parser.add_argument("--eval-reps", type=int, default=10)
    args = parser.parse_args(argv)

    out: dict[str, Any] = {"formula": _synth.FORMULA, "nlev": args.nlev, "sizes": []}
    theta = _synth.true_theta()
    try:
        mlm = import_engine()
    except Exception as exc:  # noqa: BLE001 - any failure means "engine n/a"
        mlm = None
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    for nrows in args.rows:
        start = time.perf_counter()
        df = _synth.crossed(nrows, *args.nlev)
        row: dict[str, Any] = {"rows": nrows, "simulate_s": time.perf_counter() - start}
        if mlm is not None:
            try:
                row.update(measure_size(mlm, df, theta, args.build_reps, args.eval_reps))
            except Exception as exc:  # noqa: BLE001 - report, never crash the benchmark
                row["error"] = f"{type(exc).__name__}: {exc}"[:500]
        out["sizes"].append(row)
        del df
    first, last = out["sizes"][0], out["sizes"][-1]
    if "construct" in first and "construct" in last:
        out["construct_growth"] = last["construct"]["median"] / first["construct"]["median"]
        out["eval_growth"] = last["objective"]["median"] / first["objective"]["median"]
    out["peak_rss_mb_self"] = _timing.peak_rss_mb()
    out["blas"] = _timing.blas_info()
    _timing.emit(out)


if __name__ == "__main__":
    main()
