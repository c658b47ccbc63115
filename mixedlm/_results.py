"""LinearMixedModelResults: the fitted model's estimates, held as copies.

lme4 names (``fixef``, ``ranef``, ``VarCorr`` as ``varcorr``, ``sigma``) and
statsmodels names (``fe_params``, ``bse``, ``llf``, ``fittedvalues``,
``resid``) both work.
"""
from __future__ import annotations

import warnings
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.linalg as sla
from numpy.typing import NDArray

from ._fixed import xy_times
from ._optsummary import OptSummary
from ._summary import Summary
from ._varcorr import VarCorr
from ._warnings import ConvergenceWarning, SingularFitWarning

if TYPE_CHECKING:
    from ._model import LinearMixedModel

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on theta's bounded entries


class LinearMixedModelResults:
    """Results of :meth:`LinearMixedModel.fit`.

    Attributes
    ----------
    objective : float
        Deviance (ML) or REML criterion at the optimum.
    theta : ndarray
        Relative covariance parameters in lme4's order.
    sigma : float
        Residual standard deviation.
    fixef : pandas.Series
        Fixed-effects estimates (``coef`` and ``fe_params`` are other names).
    stderror : pandas.Series
        Their standard errors (``bse``).
    vcov : pandas.DataFrame
        Covariance matrix of the fixed effects.
    varcorr : VarCorr
        Variance components (tidy table in ``varcorr.table``).
    optsum : OptSummary
    is_singular : bool
    """

    def __init__(self, model: LinearMixedModel, optsum: OptSummary) -> None:
        self.formula = model.formula
        self.reml = optsum.reml
        self.optsum = optsum
        self.nobs = model.nobs
        self.n_dropped = model.n_dropped
        self.dropped_columns = list(model.dropped_columns)
        self.solver = model.solver.name
        self.theta = optsum.final.copy()
        self.theta_names = list(model.theta_names)
        last_theta, last_f = optsum.fitlog[-1] if optsum.fitlog else (None, None)
        if last_theta is not None and np.array_equal(last_theta, self.theta):
            # the solver still holds the factorization at the optimum
            self.objective = float(last_f)
        else:
            self.objective = float(model.solver.objective(self.theta, self.reml))
        beta, us, RX, pwrss = model.solver.solution(self.theta)
        p = model.p
        d = self.nobs - p if self.reml else self.nobs
        self.sigma = float(np.sqrt(pwrss / d))
        self.pwrss = pwrss
        # arrays now; the pandas objects are built on first access (cached)
        self._names = list(model.fixef_names)
        self._beta = beta.copy()
        Rinv = sla.solve_triangular(RX, np.eye(p), lower=True) if p else np.empty((0, 0))
        self._V = self.sigma ** 2 * (Rinv.T @ Rinv)
        self._blocks = [(b.group, b.levels, list(_block_cnames(model, b)),
                         b.lam(self.theta), u.copy()) for b, u in zip(model.blocks, us)]
        self._terms = [(t.group, list(t.cnames), t.k) for t in model.terms]
        self.groups = {b.group: b.nlevels for b in model.blocks}
        self.nfixef, self.ntheta = p, model.ntheta
        fitted = xy_times(model._Xy, beta)
        for b, (_, _, _, lam, u) in zip(model.blocks, self._blocks):
            bb = u @ lam.T
            fitted += np.einsum("ic,ic->i", b.z, bb[b.codes])
        self.fitted = fitted
        self.residuals = model.y - fitted
        lower = optsum.lower
        self.is_singular = bool(np.any(self.theta[lower == 0.0] < SINGULAR_TOL))
        if self.is_singular:
            warnings.warn("boundary (singular) fit: a variance component is estimated as "
                          f"(nearly) zero, theta = {np.round(self.theta, 6).tolist()}; "
                          "see .is_singular", SingularFitWarning, stacklevel=3)
        if not optsum.converged:
            warnings.warn(f"the optimizer did not report convergence ({optsum.optimizer}: "
                          f"{optsum.returnvalue})", ConvergenceWarning, stacklevel=3)

    # -- estimates as pandas objects (built once, on first access) ---------------
    @cached_property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, indexed by formulaic's column names."""
        return pd.Series(self._beta, index=self._names, name="Estimate")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates."""
        return pd.DataFrame(self._V, index=self._names, columns=self._names)

    @cached_property
    def stderror(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._V)), index=self._names, name="Std. Error")

    @cached_property
    def varcorr(self) -> VarCorr:
        """Variance components: variances, standard deviations, correlations."""
        return VarCorr.from_terms(self._terms, self.theta, self.sigma)

    # -- lme4 and statsmodels names ---------------------------------------------
    @property
    def coef(self) -> pd.Series:
        """Fixed-effects estimates (alias of :attr:`fixef`)."""
        return self.fixef

    fe_params = coef

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects (alias of :attr:`stderror`)."""
        return self.stderror

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted log-likelihood for REML fits)."""
        return -0.5 * self.objective

    llf = loglik

    @property
    def deviance(self) -> float:
        """-2 log-likelihood: the ML deviance, or the REML criterion for REML fits."""
        return self.objective

    @property
    def dof(self) -> int:
        """Number of parameters: fixed effects, theta and sigma."""
        return self.nfixef + self.ntheta + 1

    @property
    def aic(self) -> float:
        """Akaike's information criterion."""
        return self.objective + 2.0 * self.dof

    @property
    def bic(self) -> float:
        """Schwarz's Bayesian information criterion."""
        return self.objective + self.dof * np.log(self.nobs)

    @property
    def fittedvalues(self) -> NDArray[np.float64]:
        """Fitted values (alias of :attr:`fitted`)."""
        return self.fitted

    @property
    def resid(self) -> NDArray[np.float64]:
        """Residuals (alias of :attr:`residuals`)."""
        return self.residuals

    def ranef(self, uscale: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor.

        Parameters
        ----------
        uscale : bool, default False
            Return the spherical ``u`` (b = Lambda u) instead of ``b``.

        Returns
        -------
        dict of str to pandas.DataFrame
            Rows are levels, columns the random-effect columns.
        """
        out = {}
        for group, levels, cnames, lam, u in self._blocks:
            vals = u if uscale else u @ lam.T
            out[group] = pd.DataFrame(vals.copy(), index=pd.Index(levels, name=group),
                                      columns=cnames)
        return out

    @cached_property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        """statsmodels-flavoured alias of ``ranef()``."""
        return self.ranef()

    def summary(self) -> Summary:
        """An lme4/MixedModels.jl-style summary; ``print`` it or read its tables."""
        return Summary(self)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        kind = "REML" if self.reml else "ML"
        return (f"<LinearMixedModelResults {self.formula!r} ({kind}): "
                f"objective={self.objective:.4f}, sigma={self.sigma:.4g}>")


def _block_cnames(model: LinearMixedModel, block) -> list[str]:
    return [c for i in block.terms for c in model.terms[i].cnames]
