"""Kernel benchmarks: model construction and one profiled-objective evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def _model_at(case):
    """The case's model and its fixed theta."""
    mixedlm = common.import_mixedlm()
    source, formula, theta = CASES[case]
    return mixedlm.lmm(formula, _data(source)), np.asarray(theta, dtype=float)


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
        self.model, self.theta = _model_at(case)
        self.model.objective(self.theta)  # warm caches and workspaces

    def time_objective(self, case):
        self.model.objective(self.theta)


class Gradient:
    """One evaluation of the objective with its analytic gradient (crossed scalar).

    InstEval and crossed_100k hold their level pairs merged by class,
    crossed_1m on a class basis (``mixedlm._pairs``); ``track_basis_rank``
    records that basis's rank (0: no basis), ``track_inverse_factor`` whether
    the gradient reads the first factor's quadratic forms off inv(L11)
    (``_gradient.level_normsq``, 1) or off inv(S) (0).
    """

    params = [["insteval", "crossed_100k", "crossed_1m"]]  # noqa: RUF012 - asv reads class attributes
    param_names = ["case"]  # noqa: RUF012
    timeout = 600

    def setup(self, case):
        self.model, self.theta = _model_at(case)
        self.model.gradient(self.theta)  # warm caches and workspaces

    def time_objective_and_gradient(self, case):
        self.model.gradient(self.theta)

    def track_basis_rank(self, case):
        basis = getattr(self.model.solver, "_basis", None)
        return 0 if basis is None else basis.rank

    def track_inverse_factor(self, case):
        return int(bool(getattr(self.model.solver, "_normsq", False)))


class InverseFactorNormsq:
    """``_gradient.level_normsq`` alone on InstEval at the fixed theta: the
    gradient's sum of ||X b_l||^2 over the 2,972 student levels, X = inv(L11)
    (1128 x 1128) as the evaluation leaves it."""

    timeout = 600

    def setup(self):
        from mixedlm._core._gradient import NORMSQ_WORK_ROWS, level_normsq

        model, theta = _model_at("insteval")
        s = model.solver
        model.gradient(theta)  # leaves X = inv(L11) in the solver's buffer
        q = s.q_rest
        lam1 = s.first.lam(theta)[0, 0]
        m_l = lam1 * lam1 * s.A11[:, 0, 0] + 1.0
        self.args = (s.ptr, s.idx, s.val, np.ascontiguousarray(lam1 * lam1 / (m_l * m_l)),
                     s._rscale(theta), s._Sinv[q], q, np.empty(NORMSQ_WORK_ROWS * q))
        self.kernel = level_normsq

    def time_level_normsq(self):
        self.kernel(*self.args)


class DenseCholesky:
    """The dense factorizations of the blocked solver at InstEval's order (1157),
    beside LAPACK's ``dpotrf`` on the same matrix: ``_core._chol`` should stay
    below it."""

    params = [["lapack_dpotrf", "chol_rec", "chol_inv_lauum"]]  # noqa: RUF012
    param_names = ["kernel"]  # noqa: RUF012

    def setup(self, kernel):
        from scipy.linalg import lapack

        from mixedlm._core import _chol

        n = 1157
        M = np.random.default_rng(0).standard_normal((n, n))
        self.A = np.asfortranarray(M @ M.T / n + np.eye(n))
        self.W = np.empty_like(self.A, order="F")
        self.out = np.empty_like(self.A, order="F")
        self.run = {
            "lapack_dpotrf": lambda: lapack.dpotrf(self.W, lower=1, overwrite_a=1),
            "chol_rec": lambda: _chol.cholesky(self.W),
            "chol_inv_lauum": lambda: _chol.cholesky_inverse(self.W, self.out),
        }[kernel]

    def time_factor(self, kernel):
        np.copyto(self.W, self.A)
        self.run()


class DissectedCholesky:
    """InstEval's Schur complement (1,157 columns with [X y]) in the solver's
    dissected order (``_core._sepchol``) against the dense kernels on the same
    matrix, without and with the inverse factor the gradient needs; and the
    symbolic analysis (``_dissection.dissect``) that finds the order."""

    params = [["dense", "dissected"], ["factor", "factor_inverse"]]  # noqa: RUF012
    param_names = ["order", "kernel"]  # noqa: RUF012

    def setup(self, order, kernel):
        from mixedlm._core import _chol, _sepchol

        model, theta = _model_at("insteval")
        s = model.solver
        self.dissection = s._dissection
        if self.dissection is None:
            raise NotImplementedError("this build does not dissect InstEval")
        model.objective(theta)
        L = np.tril(s.T)
        self.A = np.asfortranarray(L @ L.T)  # the factored matrix, to rounding
        self.W = np.empty_like(self.A, order="F")
        m = s.q_rest
        self.out = np.zeros((m, m), order="F")
        d = self.dissection
        self.run = {
            ("dense", "factor"): lambda: _chol.cholesky(self.W),
            ("dense", "factor_inverse"): lambda: _chol.cholesky_inverse(self.W, self.out,
                                                                        gram=False),
            ("dissected", "factor"): lambda: _sepchol.cholesky_dissected(
                self.W, d.cstart, d.rptr, d.rrow),
            ("dissected", "factor_inverse"): lambda: _sepchol.cholesky_dissected(
                self.W, d.cstart, d.rptr, d.rrow, self.out),
        }[order, kernel]
        self.solver = s

    def time_kernel(self, order, kernel):
        np.copyto(self.W, self.A)
        self.run()

    def time_dissect(self, order, kernel):
        from mixedlm._dissection import dissect

        s = self.solver
        dissect(s.ptr, s.idx, s._gram, s.q_rest, s.p + 1)

    def track_flops_share(self, order, kernel):
        """The dissected factorization's flops as a share of the dense one's."""
        return self.dissection.flops if order == "dissected" else 1.0


class FixedMatrix:
    """[X y] of a fixed part of factors only (``mixedlm._fixed.fixed_matrix``):
    formulaic on the distinct level combinations, then the rows gathered
    (``_combinations``); ``factors_1m`` is ``1 + a*b`` (5 x 10 levels, 50
    columns) on 1M rows."""

    params = [["insteval", "factors_1m"]]  # noqa: RUF012 - asv reads class attributes
    param_names = ["case"]  # noqa: RUF012
    timeout = 600

    def setup(self, case):
        common.import_mixedlm()
        from mixedlm._fixed import fixed_matrix

        if case == "insteval":
            self.df = common.load_dataset("insteval")
            self.formula = "y ~ 1 + service*dept"
        else:
            rng = np.random.default_rng(7)
            n = 1_000_000
            self.df = pd.DataFrame({
                "a": pd.Categorical(rng.integers(0, 5, n)),
                "b": pd.Categorical(rng.integers(0, 10, n)),
                "y": rng.standard_normal(n),
            })
            self.formula = "y ~ 1 + a*b"
        self.y = self.df["y"].to_numpy(dtype=float)
        self.fixed_matrix = fixed_matrix

    def time_fixed_matrix(self, case):
        self.fixed_matrix(self.formula, self.df, self.y)
