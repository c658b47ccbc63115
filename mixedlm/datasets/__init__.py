"""Example data sets from R's lme4, bundled with mixedlm.

The data ship as CSV files next to a ``datasets_meta.json`` that records, for
every column, its R type and, for factors, the levels in R's order (the first
level is the baseline of treatment contrasts). :func:`load` rebuilds the frames
with exactly those types, so a model fitted here sees the same design as lme4.

Examples
--------
>>> from mixedlm import datasets
>>> datasets.names()
['dyestuff', 'dyestuff2', 'insteval', 'pastes', 'penicillin', 'sleepstudy']
>>> df = datasets.load("sleepstudy")
>>> df.shape
(180, 3)
>>> list(df["Subject"].cat.categories[:3])
['308', '309', '310']
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["load", "names"]

_DATA_DIR = "data"
_META_FILE = "datasets_meta.json"
_FACTOR_TYPES = frozenset({"factor", "ordered"})
_NUMERIC_DTYPES = {"integer": "int64", "double": "float64"}

# Parsed frames, keyed by canonical (lower-case) name. ``load`` hands out copies.
_CACHE: dict[str, pd.DataFrame] = {}


def _data_path(filename: str) -> Any:
    """Return a traversable resource for a file in the bundled data folder."""
    return resources.files(__name__).joinpath(_DATA_DIR, filename)


@lru_cache(maxsize=1)
def _meta() -> dict[str, Any]:
    """Read and cache the per-dataset metadata (file name, column types, levels)."""
    with _data_path(_META_FILE).open("r", encoding="utf-8") as fh:
        meta: dict[str, Any] = json.load(fh)["datasets"]
    return meta


def names() -> list[str]:
    """List the bundled data sets.

    Returns
    -------
    list of str
        The data set names, sorted; each one is accepted by :func:`load`.
    """
    return sorted(_meta())


def _canonical(name: str) -> str:
    """Map a user-supplied name to a bundled data set name (case-insensitive).

    Raises
    ------
    ValueError
        If no bundled data set has that name.
    TypeError
        If `name` is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    if key not in _meta():
        raise ValueError(
            f"unknown dataset {name!r}; available datasets: {', '.join(names())}"
        )
    return key


def _read(key: str) -> pd.DataFrame:
    """Parse one bundled CSV file and apply the column types from the metadata."""
    info = _meta()[key]
    columns: list[dict[str, Any]] = info["columns"]
    # Factor labels are read as text so that labels such as "01" or "15" survive.
    dtypes = {
        col["name"]: (str if col["type"] in _FACTOR_TYPES else _NUMERIC_DTYPES[col["type"]])
        for col in columns
    }
    filename: str = info["file"]
    compression = "gzip" if filename.endswith(".gz") else None
    with _data_path(filename).open("rb") as fh:
        frame = pd.read_csv(
            fh,
            dtype=dtypes,
            compression=compression,
            keep_default_na=False,
            na_values=[""],
        )
    for col in columns:
        if col["type"] not in _FACTOR_TYPES:
            continue
        name = col["name"]
        values = frame[name]
        cat = pd.Categorical(values, categories=col["levels"], ordered=col["type"] == "ordered")
        unknown = int(cat.isna().sum()) - int(values.isna().sum())
        if unknown:
            raise RuntimeError(
                f"dataset {key!r}: column {name!r} has {unknown} value(s) outside its levels"
            )
        frame[name] = cat
    if len(frame) != info["nrow"] or list(frame.columns) != [c["name"] for c in columns]:
        raise RuntimeError(f"dataset {key!r} does not match its metadata (corrupt install?)")
    return frame


def load(name: str) -> pd.DataFrame:
    """Load a bundled lme4 data set.

    Parameters
    ----------
    name : str
        One of :func:`names` (case-insensitive), e.g. ``"sleepstudy"``.

    Returns
    -------
    pandas.DataFrame
        A fresh copy of the data. Factor columns are :class:`pandas.Categorical`
        with string categories in R's level order (ordered for R's ordered
        factors); integer columns are ``int64`` and numeric columns ``float64``.

    Raises
    ------
    ValueError
        If `name` is not a bundled data set; the message lists the available ones.
    TypeError
        If `name` is not a string.

    Examples
    --------
    >>> from mixedlm import datasets
    >>> df = datasets.load("Dyestuff")
    >>> df.dtypes["Yield"]
    dtype('float64')
    """
    key = _canonical(name)
    frame = _CACHE.get(key)
    if frame is None:
        frame = _CACHE[key] = _read(key)
    return frame.copy(deep=True)
