"""Timing and reporting helpers shared by the benchmark child processes.

Only the standard library is required, so that the module works in the
throw-away peer environments too.  A child prints exactly one line that
starts with :data:`MARKER` followed by a JSON object; the parent
(``compare.py``) ignores every other line.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

#: Prefix of the one machine-readable line each child prints.
MARKER = "@@RESULT "


def measure(fn: Callable[[], Any], reps: int, warmup: int = 1) -> tuple[Any, list[float]]:
    """Call ``fn`` ``warmup`` times untimed, then ``reps`` times timed.

    Parameters
    ----------
    fn : callable
        Zero-argument callable doing the work to time.
    reps : int
        Timed repetitions.  ``0`` means: one single call, timed, no warm-up
        (the mode used for whole-process peak-memory runs).
    warmup : int
        Untimed calls before the timed ones.

    Returns
    -------
    result : object
        The value returned by the last call.
    times : list of float
        Wall-clock seconds per timed call (``time.perf_counter``).
    """
    if reps <= 0:
        start = time.perf_counter()
        result = fn()
        return result, [time.perf_counter() - start]
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def summarize(times: list[float]) -> dict[str, Any]:
    """Median, best and all of a list of timings.

    Parameters
    ----------
    times : list of float
        Seconds.

    Returns
    -------
    dict
        Keys ``median``, ``best``, ``times`` (``None`` values when empty).
    """
    if not times:
        return {"median": None, "best": None, "times": []}
    return {"median": statistics.median(times), "best": min(times), "times": list(times)}


def blas_info() -> dict[str, Any]:
    """Describe the BLAS libraries loaded in this process.

    Uses :mod:`threadpoolctl` when it is importable; always records the
    thread-related environment variables.

    Returns
    -------
    dict
        ``env`` (thread variables) and ``threadpools`` (list, possibly
        empty, of ``{api, internal_api, version, num_threads, filepath}``).
    """
    env = {
        k: os.environ.get(k)
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    pools: list[dict[str, Any]] = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        keep = ("user_api", "internal_api", "version", "num_threads", "filepath")
        pools = [{k: p.get(k) for k in keep} for p in threadpool_info()]
    return {"env": env, "threadpools": pools, "numpy_blas": _numpy_blas()}


def _numpy_blas() -> dict[str, Any] | None:
    """BLAS that numpy was built against (``numpy.show_config``), if any."""
    if "numpy" not in sys.modules:
        return None
    try:
        import numpy

        cfg = numpy.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
    except Exception:  # noqa: BLE001 - the layout of show_config varies
        return None


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far, in MiB."""
    try:
        import resource
    except ImportError:  # pragma: no cover - non-POSIX
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(payload: dict[str, Any]) -> None:
    """Print ``payload`` as the single machine-readable result line."""
    sys.stdout.write(MARKER + json.dumps(payload, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(obj: Any) -> Any:
    """Fallback converter for numpy scalars and arrays."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
