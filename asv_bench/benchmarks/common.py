"""Shared helpers for the asv benchmarks: lazy import, datasets, synthetic designs.

``mixedlm`` is imported only inside ``setup`` methods (through
:func:`import_mixedlm`), so ``asv check`` can import these modules even when
the package is missing or broken; a missing engine makes ``setup`` raise
``NotImplementedError``, which asv reports as a skipped benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: Benchmark models: key -> (dataset, formula).  All are fitted by ML.
MODELS = {
    "dyestuff": ("dyestuff", "Yield ~ 1 + (1|Batch)"),
    "sleepstudy": ("sleepstudy", "Reaction ~ 1 + Days + (1 + Days|Subject)"),
    "penicillin": ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    "pastes": ("pastes", "strength ~ 1 + (1|batch/cask)"),
    "insteval_full": ("insteval", "y ~ 1 + service*dept + (1|s) + (1|d)"),
    "insteval_dept": ("insteval", "y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)"),
}

#: Synthetic crossed designs: key -> (rows, levels of g, levels of h).
CROSSED = {
    "crossed_100k": (100_000, 5_000, 500),
    "crossed_1m": (1_000_000, 20_000, 2_000),
}
#: Formula and simulation settings of the synthetic designs.
CROSSED_FORMULA = "y ~ 1 + x + (1|g) + (1|h)"
SD_G, SD_H, SIGMA = 0.6, 0.4, 1.0


def import_mixedlm():
    """Import ``mixedlm`` or make the calling benchmark skip.

    Returns
    -------
    module

    Raises
    ------
    NotImplementedError
        When ``mixedlm`` cannot be imported or lacks ``lmm``.
    """
    try:
        import mixedlm
    except Exception as exc:
        raise NotImplementedError(f"mixedlm is not importable: {exc}") from exc
    if not hasattr(mixedlm, "lmm"):
        raise NotImplementedError("mixedlm.lmm does not exist yet")
    return mixedlm


def load_dataset(name: str) -> pd.DataFrame:
    """Load a packaged dataset.

    Uses ``mixedlm.datasets.load`` when it exists, else reads the CSV next
    to the installed package (or in the source tree) and applies the factor
    levels from ``datasets_meta.json``.

    Parameters
    ----------
    name : str
        Dataset key, e.g. ``"insteval"``.

    Returns
    -------
    pandas.DataFrame
    """
    try:
        from mixedlm.datasets import load
    except ImportError:
        return _read_with_meta(_data_dir(), name)
    return load(name)


def _data_dir() -> Path:
    """Folder with the CSV files: installed package first, then the source tree."""
    candidates = []
    try:
        import mixedlm
    except ImportError:
        mixedlm = None
    if getattr(mixedlm, "__file__", None):
        candidates.append(Path(mixedlm.__file__).parent / "datasets" / "data")
    candidates.append(Path(__file__).resolve().parents[2] / "mixedlm" / "datasets" / "data")
    for path in candidates:
        if (path / "datasets_meta.json").exists():
            return path
    raise NotImplementedError("no datasets_meta.json found")


def _read_with_meta(data_dir: Path, name: str) -> pd.DataFrame:
    """Read one CSV and turn factor columns into categoricals in R's level order."""
    with open(data_dir / "datasets_meta.json", encoding="utf-8") as fh:
        spec = json.load(fh)["datasets"][name]
    factors = [c for c in spec["columns"] if c["type"] in ("factor", "ordered")]
    frame = pd.read_csv(data_dir / spec["file"], dtype={c["name"]: str for c in factors})
    for col in factors:
        frame[col["name"]] = pd.Categorical(
            frame[col["name"]], categories=col["levels"], ordered=col["type"] == "ordered"
        )
    return frame


def crossed_design(nrows: int, nlev_g: int, nlev_h: int, seed: int = 1234) -> pd.DataFrame:
    """Seeded crossed design with a response simulated from the model.

    ``y = 1 + 0.5 x + b_g + b_h + e`` with ``b_g ~ N(0, SD_G^2)``,
    ``b_h ~ N(0, SD_H^2)``, ``e ~ N(0, SIGMA^2)``; every level is observed.

    Parameters
    ----------
    nrows : int
        Number of rows (at least the larger number of levels).
    nlev_g, nlev_h : int
        Levels of the grouping factors ``g`` and ``h``.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``y``, ``x``, ``g``, ``h``.
    """
    rng = np.random.default_rng(seed)
    b_g = rng.normal(0.0, SD_G, nlev_g)
    b_h = rng.normal(0.0, SD_H, nlev_h)
    g = rng.integers(0, nlev_g, nrows)
    h = rng.integers(0, nlev_h, nrows)
    g[:nlev_g] = np.arange(nlev_g)
    h[:nlev_h] = np.arange(nlev_h)
    x = rng.normal(size=nrows)
    y = 1.0 + 0.5 * x + b_g[g] + b_h[h] + rng.normal(0.0, SIGMA, nrows)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g": pd.Categorical.from_codes(g, categories=[f"g{i}" for i in range(nlev_g)]),
            "h": pd.Categorical.from_codes(h, categories=[f"h{i}" for i in range(nlev_h)]),
        }
    )


def crossed_theta() -> np.ndarray:
    """True relative covariance factors of :func:`crossed_design`, lme4 order."""
    return np.array([SD_G / SIGMA, SD_H / SIGMA])
