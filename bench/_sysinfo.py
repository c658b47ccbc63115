"""Describe the machine the benchmark runs on."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

#: Debian's alternative that decides which libblas.so.3 R and CHOLMOD load.
BLAS_ALTERNATIVE = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (``platform.processor`` otherwise)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def system_blas() -> str | None:
    """Target of the ``libblas.so.3`` alternative (``readlink -f``)."""
    try:
        return os.path.realpath(BLAS_ALTERNATIVE) if os.path.exists(BLAS_ALTERNATIVE) else None
    except OSError:
        return None


def r_lme4_status() -> tuple[bool, str]:
    """Whether ``Rscript`` exists and can load lme4 and jsonlite.

    Returns
    -------
    ok : bool
    note : str
        Version string on success, the reason otherwise.
    """
    try:
        proc = subprocess.run(
            [
                "Rscript",
                "-e",
                (
                    "suppressMessages({library(lme4); library(jsonlite)}); "
                    "cat(R.version.string, "
                    "'lme4', as.character(packageVersion('lme4')))"
                ),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except FileNotFoundError:
        return False, "Rscript not found (use run.sh --install-r)"
    except subprocess.TimeoutExpired:
        return False, "Rscript timed out"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return False, "lme4/jsonlite do not load" + (f": {lines[-1][:200]}" if lines else "")
    return True, proc.stdout.strip()


def describe() -> dict[str, Any]:
    """Collect CPU, core count, load and the system BLAS.

    Returns
    -------
    dict
    """
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": load,
        "system_libblas": system_blas(),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        # e.g. OPENBLAS_CORETYPE, which overrides OpenBLAS's choice of kernels
        # for every package here (lme4's Debian OpenBLAS, numpy's and SciPy's)
        "blas_env": {k: v for k, v in sorted(os.environ.items())
                     if k.startswith(("OPENBLAS_", "GOTO_", "MKL_", "OMP_"))},
    }
