"""LinearMixedModel: from a formula and a DataFrame to the structure that is optimised.

Construction parses the formula, validates and cleans the data, builds X, y
and the random-effects terms, makes one pass over the rows to form the
cross-product blocks of [Z X y], and picks a solver. ``fit`` then optimises
theta without touching the rows again.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import formulaic
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ._fixed import dense_x, drop_rank_deficient, fixed_matrix, response_vector, xy_gram
from ._formula import ParsedFormula, parse_formula
from ._optimize import optimize_theta
from ._solvers import make_solver
from ._terms import (
    FactorBlock,
    ReMat,
    build_blocks,
    build_terms,
    theta_columns,
    theta_lower_bounds,
    theta_names,
    theta_scales,
)
from ._validation import check_columns, check_dataframe, drop_incomplete

if TYPE_CHECKING:
    from ._results import LinearMixedModelResults


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _variables(expr: str) -> set[str] | None:
    """The variables of a plain sum such as ``"1 + Days"`` (no formulaic needed), or None."""
    tokens = [t.strip() for t in expr.split("+")]
    if not all(t in ("1", "0", "-1") or _PLAIN.match(t) for t in tokens):
        return None
    return {t for t in tokens if t not in ("1", "0", "-1")}


def _required_variables(parsed: ParsedFormula) -> list[str]:
    """Data columns the model uses, in first-use order."""
    seen: dict[str, None] = {}
    plain = _variables(parsed.fixed.split("~", 1)[1])
    try:
        fixed_vars = (plain | {parsed.response} if plain is not None and
                      _PLAIN.match(parsed.response)
                      else formulaic.Formula(parsed.fixed).required_variables)
    except Exception as exc:  # formulaic raises several types for bad syntax
        raise ValueError(f"cannot parse the fixed-effects part '{parsed.fixed}': {exc}") from exc
    for v in sorted(fixed_vars, key=lambda v: (v != parsed.response, str(v))):
        seen[str(v)] = None
    for term in parsed.random:
        try:
            lhs_vars = _variables(term.lhs)
            if lhs_vars is None:
                lhs_vars = formulaic.Formula(term.lhs).required_variables
        except Exception as exc:
            raise ValueError(f"cannot parse the random-effects term {term.source}: {exc}"
                             ) from exc
        for v in sorted(map(str, lhs_vars)):
            seen[v] = None
        for v in term.group_vars:
            seen[v] = None
    return list(seen)


class LinearMixedModel:
    """A linear mixed-effects model, built but not yet optimised.

    Parameters
    ----------
    formula : str
        lme4-style formula, e.g. ``"Reaction ~ 1 + Days + (1 + Days|Subject)"``.
    data : pandas.DataFrame
    solver : {"auto", "dense", "blocked", "cholmod"}, default "auto"
        ``"auto"`` uses the dense single-factor solver for one grouping factor,
        the blocked dense Schur-complement solver for several factors whose
        non-leading random effects fit in a dense matrix (at most
        ``mixedlm._solvers.DENSE_SCHUR_MAX`` columns), and CHOLMOD otherwise.

    Raises
    ------
    ValueError, TypeError
        For a malformed formula or data the model cannot use; the message names
        the term, column or value.

    See Also
    --------
    lmm : the functional constructor.
    """

    def __init__(self, formula: str, data: pd.DataFrame, *, solver: str = "auto") -> None:
        data = check_dataframe(data)
        self.parsed = parse_formula(formula)
        self.formula = self.parsed.formula
        columns = _required_variables(self.parsed)
        check_columns(columns, data, "the formula")
        data, self.n_dropped = drop_incomplete(data, columns)
        self.y = response_vector(self.parsed.response, self.parsed.fixed, data)
        Xy, names = fixed_matrix(self.parsed.fixed, data, self.y)
        Xy, self.fixef_names, self.dropped_columns, XyXy = drop_rank_deficient(
            Xy, names, xy_gram(Xy))
        self._Xy = Xy  # dense Fortran or CSC (``_fixed``); X is stored once, inside it
        self._X: NDArray[np.float64] | None = None
        self.terms: list[ReMat] = build_terms(self.parsed.random, data)
        self.blocks: list[FactorBlock] = build_blocks(self.terms)
        self.lower = theta_lower_bounds(self.terms)
        self.theta_names = theta_names(self.terms)
        self.solver = make_solver(self.blocks, Xy, XyXy, solver)

    # -- sizes ------------------------------------------------------------------
    @property
    def X(self) -> NDArray[np.float64]:
        """The fixed-effects model matrix, (n, p) dense Fortran array.

        A view of the stored [X y] when that is dense; made on first access
        when X is held sparse (mostly-zero dummy columns, see ``_fixed``).
        """
        if self._X is None:
            self._X = dense_x(self._Xy)
        return self._X

    @property
    def nobs(self) -> int:
        """Number of observations used (after dropping incomplete rows)."""
        return len(self.y)

    @property
    def p(self) -> int:
        """Number of (full-rank) fixed-effects columns."""
        return self._Xy.shape[1] - 1

    @property
    def ntheta(self) -> int:
        """Number of covariance parameters."""
        return len(self.lower)

    def theta0(self) -> NDArray[np.float64]:
        """lme4's starting theta: 1 on diagonals, 0 off them."""
        return np.where(self.lower == 0.0, 1.0, 0.0)

    # -- evaluation -------------------------------------------------------------
    def _check_theta(self, theta: ArrayLike) -> NDArray[np.float64]:
        th = np.asarray(theta, dtype=np.float64).ravel()
        if th.shape != (self.ntheta,):
            raise ValueError(f"theta has {th.size} values; this model has {self.ntheta} "
                             f"({', '.join(self.theta_names)})")
        if not np.all(np.isfinite(th)):
            raise ValueError(f"theta must be finite, got {th.tolist()}")
        if np.any(th < self.lower):
            raise ValueError(f"theta {th.tolist()} violates the lower bounds "
                             f"{self.lower.tolist()} (diagonal entries must be >= 0)")
        return th

    def objective(self, theta: ArrayLike, reml: bool = False) -> float:
        """The profiled deviance (ML) or REML criterion at ``theta``.

        One evaluation: updates the Cholesky factor only; no pass over the data.
        """
        return self.solver.objective(self._check_theta(theta), bool(reml))

    def gradient(self, theta: ArrayLike, reml: bool = False) -> NDArray[np.float64]:
        """Analytic gradient of :meth:`objective`: one grouping factor (any terms), or
        several factors with scalar terms only (the dense and blocked solvers)."""
        if not self.solver.has_gradient:
            raise NotImplementedError(f"the {self.solver.name!r} solver has no analytic "
                                      "gradient for this model; it is available for one "
                                      "grouping factor, or for scalar terms on the blocked "
                                      "solver")
        g = np.empty(self.ntheta)
        self.solver.objective(self._check_theta(theta), bool(reml), g)
        return g

    def fit(self, reml: bool = False, verbose: bool = False,
            theta0: ArrayLike | None = None) -> LinearMixedModelResults:
        """Optimise theta and return the fitted model's results.

        Parameters
        ----------
        reml : bool, default False
            Maximise the restricted likelihood instead of the likelihood.
        verbose : bool, default False
            Print one line per evaluation: ``f_1: 327.76702, [1.0]``.
        theta0 : array_like, optional
            Starting theta (default: lme4's).

        Returns
        -------
        LinearMixedModelResults
            Holds copies; refitting the model does not change it.
        """
        from ._results import LinearMixedModelResults

        x0 = self.theta0() if theta0 is None else self._check_theta(theta0)
        reml = bool(reml)
        solver = self.solver

        def fn(theta: NDArray[np.float64], grad: NDArray[np.float64] | None) -> float:
            return solver.objective(theta, reml, grad)

        optsum = optimize_theta(fn, x0, self.lower, solver.has_gradient, reml, verbose,
                                theta_scales(self.terms), theta_columns(self.terms))
        return LinearMixedModelResults(self, optsum)

    def __repr__(self) -> str:
        groups = ", ".join(f"{b.group} ({b.nlevels})" for b in self.blocks)
        return (f"<LinearMixedModel {self.formula!r}: n={self.nobs}, p={self.p}, "
                f"groups: {groups}, solver={self.solver.name!r}>")


def lmm(formula: str, data: pd.DataFrame, *, solver: str = "auto") -> LinearMixedModel:
    """Build a linear mixed-effects model from an lme4-style formula.

    Parameters
    ----------
    formula : str
        Fixed part in Wilkinson notation (formulaic), random part with lme4's
        bars: ``(1|g)``, ``(1 + x|g)``, ``(x||g)``, ``(1|a/b)``, ``(1|a:b)``.
    data : pandas.DataFrame
    solver : {"auto", "dense", "blocked", "cholmod"}, default "auto"

    Returns
    -------
    LinearMixedModel
        Call ``.fit()`` (ML) or ``.fit(reml=True)``.

    Examples
    --------
    >>> import mixedlm
    >>> df = mixedlm.datasets.load("sleepstudy")
    >>> r = mixedlm.lmm("Reaction ~ 1 + Days + (1 + Days|Subject)", df).fit()
    >>> round(r.objective, 3)
    1751.939
    """
    return LinearMixedModel(formula, data, solver=solver)
