"""The only module that imports scikit-sparse (CHOLMOD).

scikit-sparse is pinned to 0.4.16 (0.5.0 needs SuiteSparse >= 7.4; Debian
bookworm has 5.12). It is imported lazily, so that single-factor fits and the
dense blocked path never need it. Two traps of 0.4.16 are avoided here:

* ``Factor.cholesky(A)`` returns a *new* factor and leaves this one unchanged;
  refactor with ``cholesky_inplace`` so that every theta really updates L.
* ``solve_L``/``solve_Lt`` default to the LDL' decomposition, which converts a
  supernodal LL' factor in place to simplicial LDL' and slows every later
  refactor; always pass ``use_LDLt_decomposition=False``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

_INSTALL_HINT = ("Crossed random effects on the sparse path need scikit-sparse (CHOLMOD): "
                 "pip install 'scikit-sparse==0.4.16'; it builds against SuiteSparse "
                 "(Debian: apt-get install libsuitesparse-dev)")


def _cholmod() -> Any:
    try:
        from sksparse import cholmod
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(_INSTALL_HINT) from exc
    return cholmod


class SparseCholesky:
    """A CHOLMOD LL' factor of a fixed-pattern symmetric matrix, refactored in place.

    Parameters
    ----------
    pattern : scipy.sparse.csc_matrix
        The matrix whose lower triangle fixes the pattern (values ignored).
    """

    def __init__(self, pattern: sp.csc_matrix) -> None:
        cholmod = _cholmod()
        self._A = pattern.copy()
        self._factor = cholmod.analyze(self._A, mode="supernodal", ordering_method="amd")

    def factor(self, values: NDArray[np.float64]) -> None:
        """Factor the matrix with the stored pattern and these values (in place)."""
        self._A.data = values
        self._factor.cholesky_inplace(self._A)

    def logdet(self) -> float:
        """log det of the factored matrix."""
        return float(self._factor.logdet())

    def solve_L(self, b: NDArray[np.float64]) -> NDArray[np.float64]:
        """L^{-1} P b for dense b (P the fill-reducing permutation)."""
        return np.asarray(self._factor.solve_L(self._factor.apply_P(b),
                                               use_LDLt_decomposition=False))

    def solve_A(self, b: NDArray[np.float64]) -> NDArray[np.float64]:
        """A^{-1} b for dense b."""
        return np.asarray(self._factor.solve_A(b))
