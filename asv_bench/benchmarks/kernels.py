"""Kernel benchmarks: model construction and one profiled-objective evaluation."""

from __future__ import annotations

import numpy as np

from . import common

#: Cases: key -> (dataset or crossed-design key, formula, theta for time_objective).
CASES = {
    "sleepstudy": ("sleepstudy", common.MODELS["sleepstudy"][1], (0.9292, 0.0182, 0.2226)),
    "insteval": ("insteval", common.MODELS["insteval_full"][1], (0.2759, 0.4320)),
    "crossed_100k": ("crossed_100k", common.CROSSED_FORMULA, tuple(common.crossed_theta())),
    "crossed_1m": ("crossed_1m", common.CROSSED_FORMULA, tuple(common.crossed_theta())),
}


def _data(source):
    if source in common.CROSSED:
        return common.crossed_design(*common.CROSSED[source])
    return common.load_dataset(source)


class BuildStructure:
    """``mixedlm.lmm(formula, df)``: formula, model matrices and the stored blocks."""

    params = [list(CASES)]  # noqa: RUF012 - asv reads class attributes
    param_names = ["case"]  # noqa: RUF012
    timeout = 600

    def setup(self, case):
        self.mixedlm = common.import_mixedlm()
        source, self.formula, _ = CASES[case]
        self.df = _data(source)

    def time_build_structure(self, case):
        self.mixedlm.lmm(self.formula, self.df)


class Objective:
    """One evaluation of the profiled ML objective at a fixed theta."""

    params = [list(CASES)]  # noqa: RUF012 - asv reads class attributes
    param_names = ["case"]  # noqa: RUF012
    timeout = 600

    def setup(self, case):
        mixedlm = common.import_mixedlm()
        source, formula, theta = CASES[case]
        self.theta = np.asarray(theta, dtype=float)
        self.model = mixedlm.lmm(formula, _data(source))
        self.model.objective(self.theta)  # warm caches and workspaces

    def time_objective(self, case):
        self.model.objective(self.theta)
