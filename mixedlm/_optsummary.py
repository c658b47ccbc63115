"""OptSummary: what the optimizer was asked, what it did, and its fit log."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass
class OptSummary:
    """Summary of one optimization of the profiled objective over theta.

    Attributes
    ----------
    optimizer : str
        ``"L-BFGS-B"`` (SciPy; when the solver has an analytic gradient: one
        grouping factor, or scalar terms on the blocked solver; diagonal
        entries of theta searched on a scaled log scale) or ``"LN_BOBYQA"``
        (nlopt, derivative-free, as lme4).
    initial, final, lower : ndarray
        Starting theta, optimum and lower bounds.
    fmin : float
        Objective at ``final``.
    feval : int
        Number of objective evaluations.
    returnvalue : str
        The optimizer's own return code or message.
    converged : bool
    reml : bool
    tolerances : dict
    fitlog : list of (ndarray, float)
        Every evaluation: (theta, objective).
    """

    optimizer: str
    initial: NDArray[np.float64]
    lower: NDArray[np.float64]
    final: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    fmin: float = np.inf
    feval: int = 0
    returnvalue: str = ""
    converged: bool = False
    reml: bool = False
    tolerances: dict = field(default_factory=dict)
    fitlog: list = field(default_factory=list)

    def __str__(self) -> str:
        rows = [("Optimizer", self.optimizer), ("Initial theta", _fmt(self.initial)),
                ("Lower bounds", _fmt(self.lower)), ("Final theta", _fmt(self.final)),
                ("Objective (fmin)", f"{self.fmin:.6f}"), ("Evaluations", str(self.feval)),
                ("Return value", self.returnvalue), ("Converged", str(self.converged))]
        rows += [(k, str(v)) for k, v in self.tolerances.items()]
        w = max(len(r[0]) for r in rows)
        return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def _fmt(x: NDArray[np.float64]) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in np.asarray(x)) + "]"
