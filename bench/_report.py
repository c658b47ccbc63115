"""Format benchmark results as a markdown report (also printed to stdout)."""

from __future__ import annotations

from typing import Any

#: Column order and display names of the fitted packages.
PACKAGES = ("mixedlm", "lme4", "glmm", "mixedlm_rust")
LABELS = {
    "mixedlm": "mixedlm (ours)",
    "lme4": "lme4",
    "glmm": "glmm",
    "mixedlm_rust": "mixedlm-rust",
}


def fmt_time(seconds: float | None) -> str:
    """Seconds as a short human string (``"4.34 s"``, ``"12.1 ms"``)."""
    if seconds is None:
        return "n/a"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms".replace("e+02", "00")
    return f"{seconds * 1e6:.3g} us"


def fmt_num(value: float | None, digits: int = 2) -> str:
    """A float with fixed decimals, ``n/a`` for ``None``."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Render a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


#: Statistic shown for repeated timings ("median" or "best"); set by compare.py.
STAT = "median"


def _median(entry: dict | None) -> float | None:
    """The chosen timing statistic of one run, ``None`` when it failed."""
    if not entry or entry.get("error"):
        return None
    return entry.get(STAT)


def _ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or ours is None or ours <= 0:
        return "n/a"
    ratio = theirs / ours
    if ratio >= 10:
        return f"{ratio:.0f}x"
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"


def fits_table(results: dict[str, Any]) -> str:
    """The main side-by-side table: times, ratios, deviances, evaluations."""
    threads = results["settings"]["threads"]
    ref_t = str(results["settings"]["ratio_threads"])
    tlabel = " / ".join(f"{t}T" for t in threads)
    header = (
        ["model"]
        + [f"mixedlm {t}T" for t in threads]
        + [f"{LABELS[p]} (all cores)" for p in PACKAGES[1:]]
        + [f"{LABELS[p]} / ours ({tlabel})" for p in PACKAGES[1:]]
        + [f"dev {LABELS[p]}" for p in PACKAGES]
        + ["feval ours/lme4/glmm/rust"]
    )
    rows = []
    for key, runs in results["fits"].items():
        ours = [_median(runs.get(f"mixedlm@{t}")) for t in threads]
        row = [key] + [fmt_time(o) for o in ours]
        row += [fmt_time(_median(runs.get(p))) for p in PACKAGES[1:]]
        row += [" / ".join(_ratio(_median(runs.get(p)), o) for o in ours) for p in PACKAGES[1:]]
        ours_entry = runs.get(f"mixedlm@{ref_t}")
        entries = [ours_entry] + [runs.get(p) for p in PACKAGES[1:]]
        row += [
            fmt_num(e.get("objective") if e and not e.get("error") else None, 4) for e in entries
        ]
        fevals = []
        for e in entries:
            fe = e.get("feval") if e and not e.get("error") else None
            if fe is not None and e.get("ngrad"):
                fevals.append(f"{fe}+{e['ngrad']}g")
            else:
                fevals.append("n/a" if fe is None else str(fe))
        row.append("/".join(fevals))
        rows.append(row)
    return table(header, rows)


def equal_threads_table(results: dict[str, Any], threads: str = "1") -> str:
    """Every package at the same thread setting (``name@threads`` runs): the
    like-for-like comparison, beside the main table's peers on every core."""
    peers = PACKAGES[1:]
    header = (["model", f"mixedlm {threads}T"] + [f"{LABELS[p]} {threads}T" for p in peers]
              + [f"{LABELS[p]} / ours" for p in peers]
              + [f"dev {LABELS[p]}" for p in PACKAGES])
    rows = []
    for key, runs in results["fits"].items():
        names = [f"{p}@{threads}" for p in PACKAGES]
        if not any(n in runs for n in names[1:]):
            continue
        med = [_median(runs.get(n)) for n in names]
        rows.append([key] + [fmt_time(m) for m in med]
                    + [_ratio(m, med[0]) for m in med[1:]]
                    + [fmt_num((runs.get(n) or {}).get("objective")
                               if not (runs.get(n) or {}).get("error") else None, 4)
                       for n in names])
    return table(header, rows) if rows else "(not run: see --peer-threads)"


def rounds_table(results: dict[str, Any]) -> str:
    """Per-round ratios of the big models (alternating rounds, see compare.run_fits)."""
    threads = results["settings"]["threads"]
    peers = [p for p in PACKAGES[1:] if p != "lme4"]
    header = ["model", "round"] + [f"mixedlm {t}T" for t in threads] + [
        LABELS[p] for p in peers] + [f"{LABELS[p]} / ours ({' / '.join(f'{t}T' for t in threads)})"
                                     for p in peers]
    rows = []
    for key, runs in results["fits"].items():
        names = [f"mixedlm@{t}" for t in threads] + peers
        per = {n: (runs.get(n) or {}).get("rounds") or [] for n in names}
        nround = max((len(v) for v in per.values()), default=0)
        if nround < 2:
            continue
        for i in range(nround):
            med = {n: per[n][i] if i < len(per[n]) else None for n in names}
            ours = [med[f"mixedlm@{t}"] for t in threads]
            rows.append([key, str(i + 1)] + [fmt_time(o) for o in ours]
                        + [fmt_time(med[p]) for p in peers]
                        + [" / ".join(_ratio(med[p], o) for o in ours) for p in peers])
    return table(header, rows) if rows else "(one round only)"


def memory_table(results: dict[str, Any]) -> str:
    """Whole-process peak RSS of single InstEval fits."""
    t = results["settings"].get("memory_threads", "?")
    header = (
        ["model", f"mixedlm (ours, {t}T) MiB"]
        + [f"{LABELS[p]} MiB" for p in PACKAGES[1:]]
        + ["single-fit s (ours/lme4/glmm/rust)"]
    )
    rows = []
    for key, runs in results["memory"].items():
        row = [key]
        secs = []
        for p in PACKAGES:
            e = runs.get(p) or {}
            row.append(
                "n/a"
                if e.get("error") or e.get("peak_rss_mb") is None
                else f"{e['peak_rss_mb']:.0f}"
            )
            secs.append(fmt_time(None if e.get("error") else e.get("fit_s")))
        row.append(" / ".join(secs))
        rows.append(row)
    return table(header, rows) + "\n\nTarget for mixedlm: <= 200 MB."


def per_eval_table(results: dict[str, Any]) -> str:
    """One objective evaluation versus one dense dpotrf, per thread setting."""
    header = [
        "OPENBLAS_NUM_THREADS",
        "mixedlm objective(theta)",
        "dpotrf 1128x1128",
        "ratio (target <= 1.3)",
        "theta (source)",
    ]
    rows = []
    for t, e in results["per_eval"].items():
        if not e:
            continue
        obj = (e.get("objective") or {}).get(STAT)
        chol = (e.get("dpotrf") or {}).get(STAT)
        rows.append(
            [
                t,
                fmt_time(obj),
                fmt_time(chol),
                fmt_num(obj / chol if obj and chol else None, 2),
                ", ".join(f"{v:.4f}" for v in e.get("theta", []))
                + f" ({e.get('theta_source', 'lme4 reference')})",
            ]
        )
    return table(header, rows)


def scale_table(results: dict[str, Any]) -> str:
    """Construction, per-evaluation and whole-fit time on the big synthetic designs."""
    header = [
        "OPENBLAS_NUM_THREADS",
        "rows",
        "level pairs",
        "pairs held as",
        "construct (lmm), later builds",
        "first build",
        "objective(theta)",
        "objective + gradient",
        "whole fit (evaluations)",
        "construct growth, later / first builds (target <= ~4x)",
        "per-eval growth, objective / with gradient (target <= 1.10x)",
    ]
    rows = []
    for t, e in results["scale"].items():
        if not e:
            continue
        sizes = e.get("sizes", [])
        for i, size in enumerate(sizes):
            grow = ["", ""]
            if i == len(sizes) - 1 and i > 0:
                first_growth = (f"{size['construct_first'] / sizes[0]['construct_first']:.2f}x"
                                if size.get("construct_first") and sizes[0].get("construct_first")
                                else "n/a")
                grow = [_growth(sizes[0], size, "construct") + " / " + first_growth,
                        _growth(sizes[0], size, "objective") + " / "
                        + _growth(sizes[0], size, "objective_grad")]
            path = size.get("path", "n/a")
            if size.get("basis_rank"):
                path += f" (rank {size['basis_rank']})"
            fit = size.get("fit") or {}
            rows.append(
                [
                    t,
                    f"{size['rows']:,}",
                    f"{size['level_pairs'] / 1e6:.0f}M" if size.get("level_pairs") else "n/a",
                    path,
                    fmt_time((size.get("construct") or {}).get(STAT)),
                    fmt_time(size.get("construct_first")),
                    fmt_time((size.get("objective") or {}).get(STAT)),
                    fmt_time((size.get("objective_grad") or {}).get(STAT)),
                    f"{fmt_time(fit.get('seconds'))} ({fit.get('feval', 'n/a')})",
                ]
                + grow
            )
    return table(header, rows)


def _growth(first: dict, last: dict, what: str) -> str:
    """Ratio of the chosen statistic of ``what`` between two scale sizes."""
    a, b = (first.get(what) or {}).get(STAT), (last.get(what) or {}).get(STAT)
    return f"{b / a:.2f}x" if a and b else "n/a"


def environment(results: dict[str, Any]) -> str:
    """Bullet list describing the machine, BLAS and thread settings."""
    m = results["machine"]
    lines = [
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['platform']}",
        f"- load average at start / end: {m.get('loadavg_start')} / {m.get('loadavg_end')}",
        f"- system libblas.so.3 (readlink -f): {m.get('system_libblas')}",
        (
            f"- R: {m.get('r_note')}; R BLAS (sessionInfo): {m.get('r_blas')}; "
            f"LAPACK: {m.get('r_lapack')}"
        ),
        f"- numpy BLAS (dev venv): {m.get('numpy_blas')}",
        (f"- BLAS environment inherited by every package: {m.get('blas_env') or 'none set'}"
         " (OPENBLAS_CORETYPE, when set, fixes OpenBLAS's kernels for lme4's, numpy's and "
         "SciPy's OpenBLAS alike)"),
        f"- peers' threadpools (threadpoolctl): {m.get('peer_threadpools')}",
        (
            f"- threads: mixedlm timed with OPENBLAS_NUM_THREADS (and OMP_, MKL_, "
            f"RAYON_NUM_THREADS) in {results['settings']['threads']}; lme4 and peers at "
            f"{results['settings'].get('peer_threads', ['all'])}, where 'all' inherits "
            f"OPENBLAS_NUM_THREADS={m.get('OPENBLAS_NUM_THREADS') or 'unset'} "
            "(OpenBLAS and Rayon then use all cores); "
            f"deviance and feval columns show mixedlm at "
            f"{results['settings']['ratio_threads']} thread(s)"
        ),
        f"- versions: {results.get('versions')}",
        f"- timing: {results['settings']['timing']}",
    ]
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The whole markdown report."""
    parts = [
        "# mixedlm side-by-side benchmark",
        "",
        (
            f"Generated {results['generated_at']} by `bash bench/run.sh"
            f"{' --quick' if results['settings']['quick'] else ''}`. "
            f"All models by ML. Times are {STAT}s of whole fits from an in-memory DataFrame "
            "(formula parsing and construction included, data loading excluded), each package "
            "in its own process. `x / ours` = their time divided by ours (> 1: we are faster). "
            "feval `N+Mg` = N objective and M gradient evaluations."
        ),
        "",
        "## Fits",
        "",
        fits_table(results),
        "",
        "## Every package at 1 thread",
        "",
        ("lme4 and the peers as above, with OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, "
         "MKL_NUM_THREADS and RAYON_NUM_THREADS set to 1 (in the same alternating rounds)."),
        "",
        equal_threads_table(results, "1"),
        "",
        "## InstEval per round (the Python packages alternate; medians of each round)",
        "",
        rounds_table(results),
        "",
        "## Per evaluation on InstEval (service*dept)",
        "",
        per_eval_table(results),
        "",
        "## Peak RSS of a whole-process InstEval fit",
        "",
        memory_table(results),
        "",
        "## Scale: crossed 20,000 x 2,000 levels, `y ~ 1 + x + (1|g) + (1|h)`",
        "",
        scale_table(results) if results.get("scale") else "(skipped)",
        "",
        "## Environment",
        "",
        environment(results),
    ]
    notes = results.get("notes") or []
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(parts) + "\n"
