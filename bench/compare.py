"""Side-by-side benchmark of mixedlm, lme4 and Python peer packages.

Usage (normally through ``bash bench/run.sh``)::

    .venv/bin/python bench/compare.py [--quick] [--skip-lme4] [--skip-peers]
                                      [--skip-scale] [--threads 1 2]
                                      [--peer-threads all 1]

Every measurement runs in its own child process:

* ``run_mixedlm.py`` (this venv) once per thread setting,
* ``lme4_fit.R`` through ``Rscript``, and
* ``run_peer.py`` inside each peer's throw-away venv ``bench/.envs/NAME``,
  each with the machine's default threads (all cores) and at 1 thread, so
  that the 1-thread figures compare like with like,
* ``perf_eval.py`` and ``scale.py`` (this venv) per thread setting,
* single-fit children for the whole-process peak RSS on InstEval.

Writes ``bench/results.md`` and ``bench/results.json`` and prints the
markdown report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import _children
import _report
import _sysinfo
from _data import DATA_DIR
from models import select

HERE = Path(__file__).resolve().parent
ENVS = HERE / ".envs"
REFERENCE = HERE.parent / "tests" / "reference" / "lme4_public.json"
PEERS = ("glmm", "mixedlm_rust")
#: The variables a thread setting sets: OpenBLAS (ours, numpy's, R's), OpenMP,
#: MKL, and Rayon (glmm's Rust thread pool).
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "RAYON_NUM_THREADS")


def thread_env(threads: str) -> dict[str, str] | None:
    """The environment of a child run at ``threads`` threads ("" or "all":
    inherited, so OpenBLAS and Rayon use every core)."""
    if not threads or threads == "all":
        return None
    return {name: threads for name in THREAD_VARIABLES}


def package_runs(base: str, settings: list[str]) -> list[str]:
    """Run names of ``base`` at each thread setting: ``base`` for "all",
    ``base@N`` otherwise (the report's keys)."""
    return [base if t == "all" else f"{base}@{t}" for t in settings]


def log(msg: str) -> None:
    """Progress message on stderr (stdout carries the report)."""
    print(f"[bench {dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def _record(child: _children.ChildResult) -> dict[str, Any]:
    """Flatten a child result into the JSON stored per run."""
    entry = dict(child.payload or {})
    entry["process_peak_rss_mb"] = child.peak_rss_mb
    entry["process_wall_s"] = child.wall_s
    if child.error:
        entry["error"] = child.error
    return entry


def _py_cmd(python: str | Path, script: str, *args: Any) -> list[str]:
    return [str(python), str(HERE / script)] + [str(a) for a in args]


def fit_command(package: str, model, reps: int) -> list[str]:
    """Command line timing ``model`` with ``package`` (``reps=0``: one fit)."""
    if package == "mixedlm":
        return _py_cmd(sys.executable, "run_mixedlm.py", "--model", model.key, "--reps", reps)
    if package == "lme4":
        return [
            "Rscript",
            str(HERE / "lme4_fit.R"),
            str(DATA_DIR),
            model.dataset,
            model.formula,
            str(reps),
        ]
    return _py_cmd(
        ENVS / package / "bin" / "python",
        "run_peer.py",
        "--package",
        package,
        "--model",
        model.key,
        "--reps",
        reps,
    )


def available_packages(args, notes: list[str], machine: dict) -> list[str]:
    """Which of lme4 and the peers can run here; explain the others in ``notes``."""
    packages = []
    if args.skip_lme4:
        notes.append("lme4 skipped (--skip-lme4).")
    else:
        ok, note = _sysinfo.r_lme4_status()
        machine["r_note"] = note
        if ok:
            packages.append("lme4")
        else:
            notes.append(f"lme4 skipped: {note}.")
    for peer in PEERS:
        python = ENVS / peer / "bin" / "python"
        if args.skip_peers:
            continue
        if python.exists():
            packages.append(peer)
        else:
            notes.append(f"{peer} skipped: no venv at {python} (run bench/run.sh).")
    if args.skip_peers:
        notes.append("Python peers skipped (--skip-peers).")
    return packages


def _pool(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One record from several rounds of the same child: the first round's
    fields, every round's times pooled (median and best recomputed), and the
    per-round medians under ``rounds``."""
    ok = [r for r in rounds if not r.get("error")]
    if not ok:
        return rounds[0]
    entry = dict(ok[0])
    times = [t for r in ok for t in r.get("times") or []]
    if times:
        entry.update({"median": statistics.median(times), "best": min(times),
                      "times": times})
    entry["rounds"] = [r.get("median") for r in ok]
    return entry


def run_fits(args, packages: list[str], results: dict) -> None:
    """Time every selected model with every package.

    The big (InstEval) models run the Python packages in ``--rounds``
    alternating rounds (mixedlm at each thread setting, then each peer, then
    again), so that a change of machine load during the run hits every
    package alike; their times are pooled, and the per-round ratios kept.
    lme4, ten times slower, runs once.
    """
    for model in select(args.quick):
        rounds: dict[str, list[dict[str, Any]]] = {}
        python_packages = [f"mixedlm@{t}" for t in args.threads] + [
            name for p in packages if p != "lme4" for name in package_runs(p, args.peer_threads)]
        nrounds = args.rounds if model.big else 1
        for rnd in range(nrounds):
            for name in python_packages:
                reps = args.reps_big if model.big else args.reps_small
                package, _, threads = name.partition("@")
                log(f"{model.key}: {name} (round {rnd + 1}/{nrounds})")
                child = _children.run(fit_command(package, model, reps), thread_env(threads),
                                      args.timeout)
                rounds.setdefault(name, []).append(_record(child))
        runs: dict[str, Any] = {name: _pool(rs) for name, rs in rounds.items()}
        if "lme4" in packages:
            reps = args.reps_big_r if model.big else args.reps_small
            for name in package_runs("lme4", args.peer_threads):
                log(f"{model.key}: {name}")
                runs[name] = _record(_children.run(
                    fit_command("lme4", model, reps), thread_env(name.partition("@")[2]),
                    args.timeout))
        results["fits"][model.key] = runs


def run_memory(args, packages: list[str], results: dict) -> None:
    """Whole-process peak RSS of one InstEval fit per package."""
    threads = str(args.threads[0])
    results["settings"]["memory_threads"] = args.threads[0]
    for model in (m for m in select(args.quick) if m.dataset == "insteval"):
        runs = {}
        for package in ["mixedlm"] + packages:
            log(f"peak RSS {model.key}: {package}")
            env = thread_env(threads) if package == "mixedlm" else None
            child = _children.run(fit_command(package, model, 0), env, args.timeout)
            rec = _record(child)
            runs[package] = {
                "peak_rss_mb": child.peak_rss_mb,
                "fit_s": rec.get("median"),
                "objective": rec.get("objective"),
                "error": rec.get("error"),
            }
        results["memory"][model.key] = runs


def run_extras(args, results: dict) -> None:
    """Per-evaluation versus dpotrf, and the scale test, per thread setting."""
    for threads in args.threads:
        env = thread_env(str(threads))
        log(f"per-evaluation vs dpotrf, OPENBLAS_NUM_THREADS={threads}")
        child = _children.run(
            _py_cmd(sys.executable, "perf_eval.py", "--reps", 20), env, args.timeout
        )
        results["per_eval"][str(threads)] = _record(child)
        if args.skip_scale or (args.quick and threads != args.threads[0]):
            continue  # --quick: scale test at the first thread setting only
        log(f"scale test, OPENBLAS_NUM_THREADS={threads}")
        child = _children.run(
            _py_cmd(sys.executable, "scale.py", "--rows", *args.scale_rows), env, args.timeout
        )
        results["scale"][str(threads)] = _record(child)


def summarize_environment(results: dict) -> None:
    """Lift BLAS descriptions reported by the children into ``machine``."""
    machine = results["machine"]
    versions: dict[str, str] = {}
    pools = {}
    for runs in results["fits"].values():
        for name, entry in runs.items():
            pkg = name.split("@")[0]
            if entry.get("version"):
                versions[pkg] = entry["version"]
            if pkg == "lme4" and entry.get("blas"):
                machine["r_blas"], machine["r_lapack"] = entry["blas"], entry.get("lapack")
            blas = entry.get("blas") if isinstance(entry.get("blas"), dict) else None
            if blas and pkg in PEERS and blas.get("threadpools"):
                pools[name] = sorted(
                    {
                        f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)"
                        for p in blas["threadpools"]
                    }
                )
            if blas and pkg == "mixedlm" and blas.get("numpy_blas"):
                machine["numpy_blas"] = (
                    blas["numpy_blas"].get("openblas configuration") or blas["numpy_blas"]
                )
    machine["peer_threadpools"] = pools
    results["versions"] = versions


def add_reference(results: dict) -> None:
    """Attach lme4_public.json deviances and evaluation counts for comparison."""
    try:
        with open(REFERENCE, encoding="utf-8") as fh:
            fits = {f["id"]: f for f in json.load(fh)["fits"]}
    except (OSError, ValueError):
        return
    for model in select(False):
        ref = fits.get(model.ref_id)
        if ref:
            results["reference"][model.key] = {
                k: ref.get(k) for k in ("objective", "feval", "time_s_median")
            }


def check_objectives(results: dict, notes: list[str], tol: float = 1e-2) -> None:
    """Flag deviances off lme4's reference by more than ``tol``, and failures."""
    failures: dict[tuple[str, str], list[str]] = {}
    for key, runs in results["fits"].items():
        ref = results["reference"].get(key, {}).get("objective")
        for name, entry in runs.items():
            obj = entry.get("objective")
            if ref is not None and obj is not None and abs(obj - ref) > tol:
                notes.append(
                    f"{key}: {name} deviance {obj:.4f} differs from lme4's "
                    f"reference {ref:.4f} by {obj - ref:+.4f}."
                )
            if entry.get("error"):
                failures.setdefault((name.split("@")[0], entry["error"]), []).append(
                    f"{key}" + (f" ({name.split('@')[1]} threads)" if "@" in name else "")
                )
    if not any("deviance" in n for n in notes) and results["reference"]:
        notes.append(
            "Every deviance obtained agrees with lme4_public.json "
            f"(reference lme4 fits) within {tol}."
        )
    for (package, error), where in failures.items():
        notes.append(f"{package} n/a on {', '.join(where)}: {error}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="only sleepstudy and InstEval service*dept; scale test at one thread setting",
    )
    p.add_argument("--skip-lme4", action="store_true")
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread settings for mixedlm (OPENBLAS_NUM_THREADS and the others of "
             "THREAD_VARIABLES)",
    )
    p.add_argument(
        "--peer-threads",
        nargs="+",
        default=["all", "1"],
        help="thread settings for lme4 and the peers: 'all' (inherited: every core) "
             "and/or a number",
    )
    p.add_argument("--reps-small", type=int, default=20)
    p.add_argument("--reps-big", type=int, default=5, help="Python packages, big models")
    p.add_argument("--reps-big-r", type=int, default=3, help="lme4, big models")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds of the Python packages on the big models")
    p.add_argument("--scale-rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds per child process; a slower one is killed and reported",
    )
    p.add_argument(
        "--stat",
        choices=("median", "best"),
        default="median",
        help="timing statistic shown in the report (JSON keeps both)",
    )
    p.add_argument("--out-dir", type=Path, default=HERE)
    args = p.parse_args(argv)
    for t in args.peer_threads:
        if t != "all" and not (t.isdigit() and int(t) > 0):
            p.error(f"--peer-threads: expected 'all' or a positive number, got {t!r}")
    inherited = os.environ.get("OPENBLAS_NUM_THREADS")
    default_threads = int(inherited) if inherited and inherited.isdigit() else os.cpu_count()
    args.ratio_threads = default_threads if default_threads in args.threads else args.threads[-1]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run everything, write the report files, print the report."""
    args = parse_args(argv)
    _report.STAT = args.stat
    notes: list[str] = []
    machine = _sysinfo.describe()
    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine,
        "settings": {
            "quick": args.quick,
            "threads": args.threads,
            "peer_threads": args.peer_threads,
            "ratio_threads": args.ratio_threads,
            "stat": args.stat,
            "timing": (
                f"{args.stat} of {args.reps_small} reps (small models) / "
                f"{args.reps_big} reps x {args.rounds} alternating rounds, pooled "
                f"(InstEval; lme4 {args.reps_big_r} reps, one round) "
                "after one untimed warm-up fit per child"
            ),
        },
        "fits": {},
        "memory": {},
        "per_eval": {},
        "scale": {},
        "reference": {},
        "notes": notes,
    }
    packages = available_packages(args, notes, machine)
    run_fits(args, packages, results)
    run_extras(args, results)
    run_memory(args, packages, results)
    try:
        machine["loadavg_end"] = list(os.getloadavg())
    except OSError:
        pass
    busy = max((machine.get("loadavg_start") or [0])[0], (machine.get("loadavg_end") or [0])[0])
    if busy > 0.5:
        notes.append(
            f"The machine was not idle (1-min load average up to {busy:.2f}); "
            "timings, especially with 2 BLAS threads on 2 cores, are noisy."
        )
    add_reference(results)
    summarize_environment(results)
    check_objectives(results, notes)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = _report.render(results)
    (args.out_dir / "results.md").write_text(report, encoding="utf-8")
    with open(args.out_dir / "results.json", "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
    print(report)
    return results


if __name__ == "__main__":
    main()
