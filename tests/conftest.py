"""Shared fixtures: lme4 reference fits (fitted once per session), data sets, simulated data.

* ``reference`` - the parsed ``tests/reference/lme4_public.json``, fits keyed by id.
* ``fit_id`` - any test taking this argument is parametrised over the 18 reference fits.
* ``ref_fit`` - the cached fit for ``fit_id`` (a :class:`RefFit`).
* ``fits`` - the session cache itself (``fits.get(fit_id)``), for tests that need
  a particular fit.
* ``dataset`` - ``dataset(name)`` returns a fresh copy of a bundled data set.
* ``sim_df`` - a fresh copy of a small simulated data set with crossed, nested
  and vector random effects (see :func:`simulate`).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlm

REFERENCE_PATH = Path(__file__).parent / "reference" / "lme4_public.json"


def _load_reference() -> dict:
    with REFERENCE_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


_REFERENCE = _load_reference()
FIT_IDS = [f["id"] for f in _REFERENCE["fits"]]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a long-running test (e.g. a CHOLMOD fit of InstEval, ~1-2 min)")


def pytest_generate_tests(metafunc):
    if "fit_id" in metafunc.fixturenames:
        metafunc.parametrize("fit_id", FIT_IDS)


@dataclass
class RefFit:
    """One lme4 reference fit and ours: the JSON record, the model and the results."""

    ref: dict
    data: pd.DataFrame
    model: mixedlm.LinearMixedModel
    result: mixedlm.LinearMixedModelResults
    warnings: list = field(default_factory=list)


class FitCache:
    """Fits each reference model once per session (keyed by fit id)."""

    def __init__(self, reference: dict) -> None:
        self.refs = {f["id"]: f for f in reference["fits"]}
        self._fits: dict[str, RefFit] = {}
        self._data: dict[str, pd.DataFrame] = {}

    def data(self, name: str) -> pd.DataFrame:
        if name not in self._data:
            self._data[name] = mixedlm.datasets.load(name)
        return self._data[name]

    def get(self, fit_id: str) -> RefFit:
        if fit_id not in self._fits:
            ref = self.refs[fit_id]
            data = self.data(ref["dataset"])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = mixedlm.lmm(ref["formula"], data)
                result = model.fit(reml=bool(ref["REML"]))
            self._fits[fit_id] = RefFit(ref, data, model, result, list(caught))
        return self._fits[fit_id]


@pytest.fixture(scope="session")
def reference() -> dict:
    ref = _load_reference()
    ref["by_id"] = {f["id"]: f for f in ref["fits"]}
    return ref


@pytest.fixture(scope="session")
def fits(reference) -> FitCache:
    return FitCache(reference)


@pytest.fixture
def ref_fit(fits, fit_id) -> RefFit:
    return fits.get(fit_id)


@pytest.fixture(scope="session")
def _dataset_cache() -> dict:
    return {}


@pytest.fixture
def dataset(_dataset_cache):
    """``dataset(name)``: a fresh copy of a bundled data set (safe to modify)."""

    def load(name: str) -> pd.DataFrame:
        if name not in _dataset_cache:
            _dataset_cache[name] = mixedlm.datasets.load(name)
        return _dataset_cache[name].copy()

    return load


# ---------------------------------------------------------------------------
# Simulated data
# ---------------------------------------------------------------------------


def _balanced_codes(rng: np.random.Generator, n: int, nlevels: int) -> np.ndarray:
    """Codes with every level present (round robin, then shuffled)."""
    codes = np.arange(n) % nlevels
    rng.shuffle(codes)
    return codes


def simulate(seed: int = 20240611, n: int = 240) -> pd.DataFrame:
    """Small data with several grouping structures.

    Columns: ``y`` response; ``x``, ``x2`` continuous; ``g`` 30 levels (str),
    ``h`` 6 levels (int), ``k`` 10 levels (categorical), crossed with each
    other; ``a`` 5 levels and ``b`` 4 levels coded within ``a`` (``a/b`` has
    20 nested levels, ``b`` alone is crossed with ``a``).
    """
    rng = np.random.default_rng(seed)
    g = _balanced_codes(rng, n, 30)
    h = _balanced_codes(rng, n, 6)
    k = _balanced_codes(rng, n, 10)
    a = _balanced_codes(rng, n, 5)
    b = _balanced_codes(rng, n, 4)
    x = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    y = (2.0 + 0.7 * x - 0.3 * x2
         + rng.normal(0, 0.8, 30)[g] + rng.normal(0, 0.4, 30)[g] * x
         + rng.normal(0, 0.6, 6)[h] + rng.normal(0, 0.5, 6)[h] * x
         + rng.normal(0, 0.5, 10)[k]
         + rng.normal(0, 0.7, 5)[a] + rng.normal(0, 0.5, 20)[a * 4 + b]
         + rng.normal(0, 1.0, n))
    return pd.DataFrame({
        "y": y, "x": x, "x2": x2,
        "g": np.array([f"g{c:02d}" for c in g]),
        "h": h.astype(np.int64) + 1,
        "k": pd.Categorical([f"k{c}" for c in k], categories=[f"k{c}" for c in range(10)]),
        "a": np.array([f"a{c}" for c in a]),
        "b": np.array([f"b{c}" for c in b]),
    })


@pytest.fixture(scope="session")
def _sim_df() -> pd.DataFrame:
    return simulate()


@pytest.fixture
def sim_df(_sim_df) -> pd.DataFrame:
    return _sim_df.copy()
