"""VarCorr: estimated variances, standard deviations and correlations."""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray


class VarCorr(pd.DataFrame):
    """Variance components of a fitted model: a tidy DataFrame that prints like lme4.

    The rows are like R's ``as.data.frame(VarCorr(m))``: columns
    ``group, var1, var2, vcov, sdcor``; rows with ``var2`` missing are
    variances (``sdcor`` the standard deviation), the others covariances
    (``sdcor`` the correlation); the last row is the residual. ``print`` shows
    lme4's layout (Groups, Name, Variance, Std.Dev., Corr); ``.table`` is a
    plain-DataFrame copy. Operations on it return plain DataFrames.
    """

    _metadata = ["_blocks", "sigma"]  # noqa: RUF012 - pandas' subclassing protocol

    @property
    def _constructor(self):  # derived frames are plain DataFrames
        return pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """The rows as a plain DataFrame."""
        return pd.DataFrame(self)

    @classmethod
    def from_terms(cls, terms: list[tuple[str, list[str], int]], theta: NDArray[np.float64],
                   sigma: float) -> VarCorr:
        """Per term (group, column names, k): Sigma = sigma^2 lambda lambda' from
        its slice of theta (lme4's order)."""
        rows, blocks, t0 = [], [], 0
        for group, cnames, k in terms:
            lam = np.zeros((k, k))
            for c in range(k):
                for r in range(c, k):
                    lam[r, c] = theta[t0]
                    t0 += 1
            cov = sigma ** 2 * lam @ lam.T
            sd = np.sqrt(np.diag(cov))
            for i in range(k):
                rows.append((group, cnames[i], None, cov[i, i], sd[i]))
            for j in range(k):
                for i in range(j + 1, k):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                    rows.append((group, cnames[j], cnames[i], cov[i, j], corr))
            blocks.append((group, list(cnames), cov))
        rows.append(("Residual", None, None, sigma ** 2, sigma))
        out = cls(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])
        out._blocks, out.sigma = blocks, sigma
        return out

    def as_text(self, digits: int = 4) -> str:
        """lme4's printed layout: Groups, Name, Variance, Std.Dev., Corr."""
        lines = []
        for group, names, cov in self._blocks:
            sd = np.sqrt(np.diag(cov))
            for i, name in enumerate(names):
                corr = []
                for j in range(i):
                    denom = sd[i] * sd[j]
                    corr.append(f"{cov[i, j] / denom:5.2f}" if denom > 0 else "  NaN")
                lines.append([group if i == 0 else "", name, _g(cov[i, i], digits),
                              _g(sd[i], digits), " ".join(corr)])
        lines.append(["Residual", "", _g(self.sigma ** 2, digits), _g(self.sigma, digits), ""])
        head = ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
        ncorr = any(r[4] for r in lines)
        cols = 5 if ncorr else 4
        widths = [max(len(r[i]) for r in lines + [head]) for i in range(cols)]
        fmt = [lambda s, w: s.ljust(w), lambda s, w: s.ljust(w), lambda s, w: s.rjust(w),
               lambda s, w: s.rjust(w), lambda s, w: s.ljust(w)]
        out = [" " + " ".join(fmt[i](r[i], widths[i]) for i in range(cols)).rstrip()
               for r in [head] + lines]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return pd.DataFrame(self).to_html(index=False)


def _g(x: float, digits: int) -> str:
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.1f}"
