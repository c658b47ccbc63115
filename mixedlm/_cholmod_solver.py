"""The sparse solver: CHOLMOD on Lambda'Z'Z Lambda + I, for several factors.

Used when the dense Schur complement of the blocked solver would be too large
(``_solvers.DENSE_SCHUR_MAX``) or on request (``solver="cholmod"``). The lower
triangle of Z'Z is stored once on a fixed CSC pattern; per theta it is scaled
by Lambda in place (``_core._sparse``) and refactored by CHOLMOD on the
symbolic analysis made once (``_core._cholmod``, the only scikit-sparse
boundary). No analytic gradient: the fit uses BOBYQA.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from ._core._sparse import scale_csc
from ._fixed import XyMatrix, rest_cross
from ._layout import column_layout, lambda_values, rest_columns
from ._terms import FactorBlock


class CholmodSolver:
    """Several factors, sparse: CHOLMOD on Lambda'Z'Z Lambda + I, analysed once."""

    name = "cholmod"
    has_gradient = False

    def __init__(self, blocks: list[FactorBlock], Xy: XyMatrix,
                 XyXy: NDArray[np.float64]) -> None:
        from ._core._cholmod import SparseCholesky

        self.blocks = blocks
        self.n, P = Xy.shape
        self.p = P - 1
        cols, vals = rest_columns(blocks, self.n)
        q = int(sum(b.nlevels * b.k for b in blocks))
        n, R = cols.shape
        Z = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, n * R + 1, R)),
                          shape=(n, q))
        A = (Z.T @ Z).tocsc()
        self._layout = column_layout(blocks)
        start = self._layout[0]
        coo = A.tocoo()
        keep = start[coo.row] >= start[coo.col]
        A = sp.csc_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=(q, q))
        A.sort_indices()
        self.A = A
        self.indptr = A.indptr.astype(np.int64)
        self.indices = A.indices.astype(np.int32)
        self.diag_pos = np.array([self.indptr[j] + np.searchsorted(
            self.indices[self.indptr[j]:self.indptr[j + 1]], j) for j in range(q)],
            dtype=np.int64)
        self.AZX = rest_cross(cols, vals, Xy, q)  # Z'[X y], (q, P)
        self.AXX = XyXy
        self._work = np.empty_like(A.data)
        self._vals = np.empty_like(A.data)
        self.chol = SparseCholesky(A)
        self.q = q

    def _lam_t(self, theta: NDArray[np.float64], M: NDArray[np.float64]) -> NDArray[np.float64]:
        """Lambda' M for a (q, m) matrix M."""
        out, start = np.empty_like(M), 0
        for b in self.blocks:
            m = b.nlevels * b.k
            blk = M[start:start + m].reshape(b.nlevels, b.k, -1)
            out[start:start + m] = np.einsum("rc,lrj->lcj", b.lam(theta), blk).reshape(m, -1)
            start += m
        return out

    def objective(self, theta: NDArray[np.float64], reml: bool,
                  grad: NDArray[np.float64] | None = None) -> float:
        """The profiled objective at theta (no gradient on this path)."""
        start, width, loff = self._layout
        scale_csc(self.indptr, self.indices, self.A.data, start, width, loff,
                  lambda_values(self.blocks, theta), self.diag_pos, self._work, self._vals)
        self.chol.factor(self._vals)
        self.RZX = self.chol.solve_L(self._lam_t(theta, self.AZX))
        # NumPy/LAPACK: T = chol(AXX - RZX' RZX)
        S = self.AXX - self.RZX.T @ self.RZX
        try:
            self.T = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return np.inf
        p, n = self.p, self.n
        rr = self.T[-1, -1] ** 2
        d = n - p if reml else n
        obj = self.chol.logdet() + d * (1.0 + np.log(2.0 * np.pi * rr / d))
        if reml:
            obj += 2.0 * np.log(np.diag(self.T)[:p]).sum()
        return float(obj)

    def solution(self, theta: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], list[NDArray[np.float64]],
                            NDArray[np.float64], float]:
        """beta, u per block (nlevels, K), RX (p x p lower) and pwrss at the last theta."""
        p = self.p
        r = self.T[-1, -1]
        beta = sla.solve_triangular(self.T[:p, :p], self.T[p, :p], lower=True, trans="T")
        rhs = self._lam_t(theta, (self.AZX[:, p] - self.AZX[:, :p] @ beta)[:, None])
        u = self.chol.solve_A(rhs)[:, 0]
        us, start = [], 0
        for b in self.blocks:
            m = b.nlevels * b.k
            us.append(u[start:start + m].reshape(b.nlevels, b.k))
            start += m
        return beta, us, self.T[:p, :p].copy(), float(r * r)
