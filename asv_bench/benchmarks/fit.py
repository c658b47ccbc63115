"""Whole-fit benchmarks: time, peak memory, evaluation count and deviance.

One fit is ``mixedlm.lmm(formula, df).fit(reml=False)`` from a DataFrame
already in memory (loaded in ``setup``, not timed).
"""

from __future__ import annotations

from . import common


class Fit:
    """ML fits of the public example models."""

    params = [list(common.MODELS)]  # noqa: RUF012 - asv reads class attributes
    param_names = ["model"]  # noqa: RUF012
    timeout = 600

    def setup(self, model):
        self.mixedlm = common.import_mixedlm()
        dataset, self.formula = common.MODELS[model]
        self.df = common.load_dataset(dataset)

    def _fit(self):
        return self.mixedlm.lmm(self.formula, self.df).fit(reml=False, verbose=False)

    def time_fit(self, model):
        self._fit()

    def peakmem_fit(self, model):
        self._fit()

    def track_feval(self, model):
        return int(self._fit().optsum.feval)

    track_feval.unit = "evaluations"

    def track_objective(self, model):
        return float(self._fit().objective)

    track_objective.unit = "deviance"
