"""Summary: lme4/MixedModels.jl-style printed summary of a fitted model."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ._results import LinearMixedModelResults


class Summary:
    """Printed summary plus its tables.

    Attributes
    ----------
    fixed_effects : pandas.DataFrame
        Estimate, Std. Error and z value per fixed effect.
    info : pandas.Series
        AIC, BIC, logLik, deviance, df.resid (or the REML criterion).
    varcorr : VarCorr
    """

    def __init__(self, res: LinearMixedModelResults) -> None:
        self.res = res
        self.fixed_effects = pd.DataFrame({
            "Estimate": res.fixef, "Std. Error": res.stderror,
            "z value": res.fixef / res.stderror})
        self.info = pd.Series({"AIC": res.aic, "BIC": res.bic, "logLik": res.loglik,
                               "deviance": res.deviance,
                               "df.resid": res.nobs - res.dof})
        self.varcorr = res.varcorr

    def as_text(self) -> str:
        """The summary as lines of text."""
        r = self.res
        kind = ("Linear mixed model fit by REML" if r.reml
                else "Linear mixed model fit by maximum likelihood")
        out = [kind, f"Formula: {r.formula}"]
        if r.n_dropped:
            out.append(f"  ({r.n_dropped} row{'s' if r.n_dropped > 1 else ''} with missing "
                       "values dropped)")
        if r.dropped_columns:
            out.append(f"  (rank deficient X: dropped {', '.join(r.dropped_columns)})")
        out.append("")
        if r.reml:
            out.append(f"REML criterion at convergence: {r.objective:.4f}")
        else:
            heads = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
            vals = [f"{r.aic:.4f}", f"{r.bic:.4f}", f"{r.loglik:.4f}", f"{r.deviance:.4f}",
                    str(r.nobs - r.dof)]
            w = [max(len(h), len(v)) + 2 for h, v in zip(heads, vals)]
            out.append("".join(h.rjust(x) for h, x in zip(heads, w)))
            out.append("".join(v.rjust(x) for v, x in zip(vals, w)))
        out += ["", "Random effects:", r.varcorr.as_text()]
        groups = "; ".join(f"{g}, {n}" for g, n in r.groups.items())
        out.append(f"Number of obs: {r.nobs}, groups:  {groups}")
        out += ["", "Fixed effects:", _format_table(self.fixed_effects)]
        if r.is_singular:
            out += ["", "boundary (singular) fit: see .is_singular"]
        o = r.optsum
        out += ["", (f"Optimizer: {o.optimizer}, {o.feval} evaluations, {o.returnvalue}; "
                     f"solver: {r.solver}")]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()


def _format_table(df: pd.DataFrame) -> str:
    cols = [df.index.astype(str).tolist()] + [
        [_num(v, c) for v in df[c]] for c in df.columns]
    heads = [""] + list(df.columns)
    widths = [max(len(x) for x in [h] + col) for h, col in zip(heads, cols)]
    lines = [heads[0].ljust(widths[0]) + "  " + "  ".join(
        h.rjust(w) for h, w in zip(heads[1:], widths[1:]))]
    for i in range(len(df)):
        lines.append(cols[0][i].ljust(widths[0]) + "  " + "  ".join(
            cols[j][i].rjust(widths[j]) for j in range(1, len(cols))))
    return "\n".join(lines)


def _num(v: float, col: str) -> str:
    if not np.isfinite(v):
        return "NaN"
    return f"{v:.2f}" if col == "z value" else f"{v:.4f}"
