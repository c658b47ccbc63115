"""Load the packaged example datasets with plain pandas.

This module deliberately does not import :mod:`mixedlm`: the peer runners
execute it inside their own throw-away virtual environments, where only
pandas and numpy are available.  Factor columns get their levels in R's
order, as recorded in ``datasets_meta.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: Directory holding the CSV files and ``datasets_meta.json``.
DATA_DIR = Path(__file__).resolve().parent.parent / "mixedlm" / "datasets" / "data"


def _meta(data_dir: Path) -> dict:
    with open(data_dir / "datasets_meta.json", encoding="utf-8") as fh:
        return json.load(fh)["datasets"]


def load(name: str, data_dir: Path | str | None = None) -> pd.DataFrame:
    """Read one dataset with categorical columns in R's level order.

    Parameters
    ----------
    name : str
        Dataset key in ``datasets_meta.json`` (``"insteval"``, ...).
    data_dir : path-like, optional
        Directory with the CSV files; defaults to the package data folder.

    Returns
    -------
    pandas.DataFrame
        Factors become ``pandas.Categorical`` (ordered for R's ordered
        factors); integer and double columns become ``float64``.
    """
    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    spec = _meta(data_dir)[name]
    dtypes = {c["name"]: str for c in spec["columns"] if c["type"] in ("factor", "ordered")}
    frame = pd.read_csv(
        data_dir / spec["file"], dtype=dtypes, keep_default_na=False, na_values=[""]
    )
    for col in spec["columns"]:
        key = col["name"]
        if col["type"] in ("factor", "ordered"):
            frame[key] = pd.Categorical(
                frame[key], categories=col["levels"], ordered=col["type"] == "ordered"
            )
        else:
            frame[key] = frame[key].astype(np.float64)
    return frame
