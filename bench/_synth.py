"""Seeded synthetic crossed designs for the scale measurements.

Two crossed grouping factors ``g`` and ``h`` with fixed numbers of levels,
one numeric covariate ``x`` and a response simulated from the model::

    y = beta0 + beta1 * x + b_g + b_h + e,
    b_g ~ N(0, sd_g^2), b_h ~ N(0, sd_h^2), e ~ N(0, sigma^2).

The same seed always gives the same levels and the same random effects,
whatever the number of rows, so designs of different sizes differ only in
how many observations each level receives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Formula fitted to the synthetic data.
FORMULA = "y ~ 1 + x + (1|g) + (1|h)"
#: Standard deviations used in the simulation.
SD_G, SD_H, SIGMA = 0.6, 0.4, 1.0


def true_theta() -> np.ndarray:
    """Relative covariance factors ``(sd_g, sd_h) / sigma`` in lme4 order."""
    return np.array([SD_G / SIGMA, SD_H / SIGMA])


def crossed(
    nrows: int, nlev_g: int = 20_000, nlev_h: int = 2_000, seed: int = 20251124
) -> pd.DataFrame:
    """Simulate a crossed two-factor design.

    Parameters
    ----------
    nrows : int
        Number of observations (at least ``max(nlev_g, nlev_h)``).
    nlev_g, nlev_h : int
        Levels of the two grouping factors; every level is observed.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``y``, ``x`` (float64), ``g``, ``h`` (categorical).
    """
    if nrows < max(nlev_g, nlev_h):
        raise ValueError("nrows must be at least the number of levels")
    effects = np.random.default_rng(seed)
    b_g = effects.normal(0.0, SD_G, nlev_g)
    b_h = effects.normal(0.0, SD_H, nlev_h)
    rows = np.random.default_rng([seed, nrows])
    g = rows.integers(0, nlev_g, nrows, dtype=np.int32)
    h = rows.integers(0, nlev_h, nrows, dtype=np.int32)
    g[:nlev_g] = np.arange(nlev_g, dtype=np.int32)  # every level observed
    h[:nlev_h] = np.arange(nlev_h, dtype=np.int32)
    x = rows.normal(size=nrows)
    y = 1.0 + 0.5 * x + b_g[g] + b_h[h] + rows.normal(0.0, SIGMA, nrows)
    g_lab = pd.Index([f"g{i}" for i in range(nlev_g)])
    h_lab = pd.Index([f"h{i}" for i in range(nlev_h)])
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g": pd.Categorical.from_codes(g, categories=g_lab),
            "h": pd.Categorical.from_codes(h, categories=h_lab),
        }
    )
