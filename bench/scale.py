"""Scale test: construction and per-evaluation time on big crossed designs.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/scale.py --rows 1000000 4000000

For each size the seeded design of :mod:`_synth` (20,000 x 2,000 crossed
levels, identical levels at every size) is simulated untimed and
construction ``mixedlm.lmm(formula, df)`` is timed ``--build-reps`` times,
each build after the previous one is freed (the earlier sizes' models stay).
The first build of a size (``construct_first``) is charged the first touch
of memory new to the process, which on this project's virtual machines costs
up to 2 ms per MB and varies from run to run (the 1M-row design's first
build took 0.34-1.9 s where later ones took 0.33-0.5 s); the median of the
later builds (``construct``) is the construction itself, and the growth
target is read off it (the first size's first build also carries the
process's own warm-up, so the first-build growth reads low). Later builds
still fault in the large arrays they
allocate (glibc returns them to the kernel when freed), so they move by
20-50% with the machine's memory state. With every
size's model built, the evaluations are timed *interleaved* (size 1, size 2,
size 1, ...; medians of ``--eval-reps`` after one warm-up round), so that a
change of machine load hits every size alike: one ``m.objective(theta)`` at
the true theta, and one evaluation with the analytic gradient, as the
optimizer makes them. Then one whole ``fit()`` per size (its evaluation count
and objective are recorded).

The representation of the level pairs each model chose (``mixedlm._pairs``:
per level, merged, or class basis with its rank) and the number of level
pairs are recorded too. Growth ratios of the last size over the first are
reported (targets: construction <= ~4x for 4x rows, per-evaluation growth
<= 10%).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _synth
import _timing
import numpy as np
from run_mixedlm import import_engine


def build(mlm, df, build_reps: int) -> tuple[Any, dict[str, Any]]:
    """Time ``build_reps`` constructions, each after the previous model is freed;
    return the last model, the first build's time and the later builds' summary."""
    model, btimes = None, []
    for _rep in range(max(build_reps, 1)):
        model = None  # free the previous build (measure collects it first)
        model, one = _timing.measure(lambda: mlm.lmm(_synth.FORMULA, df), 1, warmup=0)
        btimes += one
    return model, {"construct_first": btimes[0],
                   "construct": _timing.summarize(btimes[1:] or btimes)}


def time_evaluations(models: list, theta, eval_reps: int) -> list[dict[str, Any]]:
    """Objective and objective-with-gradient times per model, interleaved."""
    grad = np.empty(len(theta))
    times: list[dict[str, list[float]]] = [{"objective": [], "objective_grad": []}
                                           for _ in models]
    for rep in range(eval_reps + 1):  # round 0 is the warm-up
        for model, t in zip(models, times):
            calls = (("objective", lambda m=model: m.objective(theta)),
                     ("objective_grad", lambda m=model: m.solver.objective(theta, False, grad)))
            for key, call in calls:
                _, one = _timing.measure(call, 1, warmup=0)
                if rep:
                    t[key] += one
    return [{k: _timing.summarize(v) for k, v in t.items()} for t in times]


def describe_and_fit(model, theta) -> dict[str, Any]:
    """How the model holds its level pairs, the objective at theta, one whole fit."""
    from mixedlm import _pairs

    solver = model.solver
    value = float(model.objective(theta))
    path = solver._path
    start = time.perf_counter()
    res = model.fit()
    fit_s = time.perf_counter() - start
    basis = getattr(solver, "_basis", None)
    return {
        "objective_value": value,
        "path": path,
        "basis_rank": basis.rank if basis is not None else None,
        "level_pairs": _pairs.level_pair_count(solver.ptr),
        "fit": {"seconds": fit_s, "feval": int(res.optsum.feval),
                "objective": float(res.objective)},
    }


def main(argv: list[str] | None = None) -> None:
    """Run the scale measurements and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--nlev", type=int, nargs=2, default=[20_000, 2_000])
    parser.add_argument("--build-reps", type=int, default=6)
    parser.add_argument("--eval-reps", type=int, default=20)
    args = parser.parse_args(argv)

    out: dict[str, Any] = {"formula": _synth.FORMULA, "nlev": args.nlev, "sizes": []}
    theta = _synth.true_theta()
    try:
        mlm = import_engine()
    except Exception as exc:  # noqa: BLE001 - any failure means "engine n/a"
        mlm = None
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    models = []
    for nrows in args.rows:
        start = time.perf_counter()
        df = _synth.crossed(nrows, *args.nlev)
        row: dict[str, Any] = {"rows": nrows, "simulate_s": time.perf_counter() - start}
        if mlm is not None:
            try:
                model, timing = build(mlm, df, args.build_reps)
                models.append(model)
                row.update(timing)
            except Exception as exc:  # noqa: BLE001 - report, never crash the benchmark
                row["error"] = f"{type(exc).__name__}: {exc}"[:500]
        out["sizes"].append(row)
        del df
    if mlm is not None and len(models) == len(args.rows):
        try:
            for row, timing in zip(out["sizes"], time_evaluations(models, theta,
                                                                  args.eval_reps)):
                row.update(timing)
            for row, model in zip(out["sizes"], models):
                row.update(describe_and_fit(model, theta))
        except Exception as exc:  # noqa: BLE001 - report, never crash the benchmark
            out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    first, last = out["sizes"][0], out["sizes"][-1]
    if "objective_grad" in first and "objective_grad" in last:
        out["construct_growth"] = last["construct"]["median"] / first["construct"]["median"]
        out["construct_first_growth"] = last["construct_first"] / first["construct_first"]
        out["eval_growth"] = last["objective"]["median"] / first["objective"]["median"]
        out["eval_grad_growth"] = (last["objective_grad"]["median"]
                                   / first["objective_grad"]["median"])
    out["peak_rss_mb_self"] = _timing.peak_rss_mb()
    out["blas"] = _timing.blas_info()
    _timing.emit(out)


if __name__ == "__main__":
    main()
