"""Solvers: the cross-product blocks, built once, and the factor L updated per theta.

Three solvers share one interface (``objective``, ``solution``):

* :class:`DenseSolver` - one grouping factor; per-level blocks and an analytic
  gradient (``_core._dense``).
* :class:`BlockedSolver` - several factors; the first is eliminated per level
  and the rest form a dense Schur complement (``_core._blocked``).
* :class:`CholmodSolver` - several factors; Lambda'Z'Z Lambda + I is refactored
  in place by CHOLMOD on a pattern analysed once (``_core._sparse``,
  ``_core._cholmod``).

All of them keep the model's [X y] only through its cross products: no
evaluation passes over the observations.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from ._core._blocked import (
    level_quadform,
    merged_quadform,
    objective_blocked,
    residual_cross,
)
from ._core._chol import solve_lower_transposed
from ._core._dense import objective_single
from ._core._merge import merge_level_pairs
from ._core._remat import (
    column_incidence,
    level_cross_dense,
    level_cross_sparse,
    level_gram,
    rest_cross_dense,
    rest_gram,
)
from ._core._sparse import scale_csc
from ._terms import FactorBlock

#: Class-merged level pairs (``_core._merge``) are built when there are at most
#: this fraction as many classes as levels, and at most this many level pairs:
#: building them costs a few passes over the pairs and up to 16 bytes per pair,
#: which on very large crossed designs (20,000 x 2,000 levels, 4M rows: 360M
#: pairs) outweighs what the evaluations gain (measured: 13 s construction
#: against 3 s); InstEval has 1.3M.
MERGE_MAX_LEVEL_PAIRS = 8_000_000
MERGE_CLASS_FRACTION = 0.5

#: Largest dense Schur complement (rest random effects + p + 1) the "auto"
#: choice hands to the blocked dense solver (128 MiB of float64).
DENSE_SCHUR_MAX = 4096


def rest_columns(blocks: list[FactorBlock], n: int
                 ) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """Row-wise sparse Z over ``blocks``: (n, R) column indices and values."""
    cols, vals, off = [], [], 0
    for b in blocks:
        for c in range(b.k):
            cols.append(off + b.codes.astype(np.int64) * b.k + c)
            vals.append(b.z[:, c])
        off += b.nlevels * b.k
    if not cols:
        return np.empty((n, 0), np.int32), np.empty((n, 0))
    return (np.ascontiguousarray(np.column_stack(cols).astype(np.int32)),
            np.ascontiguousarray(np.column_stack(vals)))


def rest_gram_lower(cols: NDArray[np.int32], vals: NDArray[np.float64], q: int
                    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Lower triangle of Z_rest'Z_rest by column (CSC: indptr, rows, values)."""
    n, R = cols.shape
    if R == 0:
        return np.zeros(q + 1, np.int64), np.empty(0, np.int32), np.empty(0)
    if R == 1:  # one scalar rest term: the Gram is diagonal
        diag = np.bincount(cols[:, 0], vals[:, 0] ** 2, minlength=q)
        return np.arange(q + 1, dtype=np.int64), np.arange(q, dtype=np.int32), diag
    Z = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, n * R + 1, R)), shape=(n, q))
    G = sp.tril((Z.T @ Z).tocsc()).tocsc()
    G.sort_indices()
    return (G.indptr.astype(np.int64), G.indices.astype(np.int32),
            np.ascontiguousarray(G.data, dtype=np.float64))


def column_layout(blocks: list[FactorBlock]
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per random-effects column of ``blocks`` (structure only, computed once):
    the first column of its level block, the block width, and the offset of its
    block's lambda in the array :func:`lambda_values` returns."""
    start, width, loff, pos, off = [], [], [], 0, 0
    for b in blocks:
        k = b.k
        start.append(np.repeat(pos + np.arange(b.nlevels, dtype=np.int64) * k, k))
        width.append(np.full(b.nlevels * k, k, dtype=np.int64))
        loff.append(np.full(b.nlevels * k, off, dtype=np.int64))
        pos += b.nlevels * k
        off += k * k
    if not blocks:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    cat = np.concatenate
    return cat(start), cat(width), cat(loff)


def lambda_values(blocks: list[FactorBlock], theta: NDArray[np.float64]) -> NDArray[np.float64]:
    """The blocks' column-major lambdas at theta, concatenated (small: sum of K^2)."""
    if not blocks:
        return np.empty(0)
    return np.concatenate([b.lam(theta).ravel(order="F") for b in blocks])


def padded_square(n: int) -> NDArray[np.float64]:
    """A zeroed (ld, n) Fortran array, ld = n rounded up to a multiple of 8.

    The kernels factor its leading n x n block; ``[:n]`` is the matrix.
    """
    return np.zeros((-(-n // 8) * 8, n), order="F")


class _FirstBlockSolver:
    """Shared pieces of the solvers whose first block is eliminated per level."""

    first: FactorBlock
    rest: list[FactorBlock]
    T: NDArray[np.float64]
    _Tpad: NDArray[np.float64]  # T's storage (rows may be padded; T is its [:n] view)
    L: NDArray[np.float64]
    C: NDArray[np.float64]
    q_rest: int
    p: int
    all_scalar = True  # every rest term scalar (vacuous with no rest factors)

    def _first_modes(self, theta: NDArray[np.float64], w2: NDArray[np.float64]
                     ) -> NDArray[np.float64]:
        """u of the first block: L_l^{-T} (B_l' Lambda_W w2) per level."""
        if self.first.k == 1 and self.all_scalar:
            # scalar terms throughout: L_l and the lambdas are numbers
            s1 = self.C[:, :, 0].T @ w2[self.q_rest:]
            if self.q_rest:
                lw = w2[: self.q_rest] * self._rscale(theta)
                s1 += np.bincount(self._level_of, self.Csp[:, 0] * lw[self.idx],
                                  minlength=len(s1))
            return (s1 / self.L[:, 0, 0])[:, None]
        s = np.einsum("jlc,j->lc", self.C, w2[self.q_rest:])
        if self.q_rest:
            lw = w2[: self.q_rest].copy()
            start = 0
            for b in self.rest:
                m = b.nlevels * b.k
                lw[start:start + m] = (lw[start:start + m].reshape(b.nlevels, b.k)
                                       @ b.lam(theta).T).ravel()
                start += m
            contrib = self.Csp * lw[self.idx][:, None]
            s += np.add.reduceat(np.vstack([contrib, np.zeros((1, contrib.shape[1]))]),
                                 self.ptr[:-1], axis=0) * (np.diff(self.ptr) > 0)[:, None]
        # self.L[l] read row-major is L_l' in its upper triangle; the strict lower
        # part still holds lam' A11_l lam + I (LAPACK leaves it), so take triu
        return np.linalg.solve(np.triu(self.L), s[:, :, None])[:, :, 0]

    def _last_row_solve(self) -> NDArray[np.float64]:
        """inv(LT)' (r e_last), r = LT[-1, -1]: -[u_rest, beta] and 1 (see solution)."""
        nw = self.T.shape[0]
        w = np.zeros(nw)
        w[-1] = self.T[-1, -1]
        solve_lower_transposed(self._Tpad, nw, w)
        return w

    def solution(self, theta: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], list[NDArray[np.float64]],
                            NDArray[np.float64], float]:
        """beta, u per block (nlevels, K), RX (p x p lower) and pwrss at the last theta."""
        q, p = self.q_rest, self.p
        r = self.T[-1, -1]
        w2 = self._last_row_solve()
        beta = -w2[q:q + p]
        us = [self._first_modes(theta, w2)]
        start = 0
        for b in self.rest:
            m = b.nlevels * b.k
            us.append(-w2[start:start + m].reshape(b.nlevels, b.k))
            start += m
        RX = np.tril(self.T[q:q + p, q:q + p])
        return beta, us, RX, float(r * r)


class DenseSolver(_FirstBlockSolver):
    """One grouping factor: per-level K x K blocks, with an analytic gradient."""

    name = "dense"
    has_gradient = True

    def __init__(self, blocks: list[FactorBlock], Xy: NDArray[np.float64],
                 XyXy: NDArray[np.float64]) -> None:
        (b,) = blocks
        self.first, self.rest, self.q_rest = b, [], 0
        self.n, P = Xy.shape
        self.p = P - 1
        nl, k = b.nlevels, b.k
        self.A11 = level_gram(b.codes, b.z, nl)
        self.AZX = level_cross_dense(b.codes, b.z, Xy, nl)
        self.AXX = XyXy
        self.L = np.empty((nl, k, k))
        self.C = np.empty((P, nl, k))
        self.T = self._Tpad = np.zeros((P, P), order="F")
        self._nograd = np.empty(0)

    def objective(self, theta: NDArray[np.float64], reml: bool,
                  grad: NDArray[np.float64] | None = None) -> float:
        """The profiled objective at theta; fills ``grad`` when given."""
        return objective_single(self.A11, self.AZX, self.AXX, self.first.lam(theta),
                                float(self.n), self.p, reml, self.L, self.C, self.T,
                                self.first.tmpl, self._nograd if grad is None else grad)


class BlockedSolver(_FirstBlockSolver):
    """Several factors: first factor per level, then one dense Cholesky.

    When every term is scalar, the analytic gradient is available: with
    Lambda diagonal and invertible, Omega^{-1} Lambda'A Lambda = I - Omega^{-1} D,
    so d logdet / d theta_b = 2 sum_{i in b} (1 - [Omega^{-1}]_ii) / theta_b,
    and diag(Omega^{-1}) comes from inv(Omega) over the random effects, formed
    from the inverse factor that the factorization produces on the way
    (``_core._chol.chol_inv_lead``, ``lauum_rec``), plus a per-level quadratic
    form (``_core._blocked.level_quadform``).
    """

    name = "blocked"

    def __init__(self, blocks: list[FactorBlock], Xy: NDArray[np.float64],
                 XyXy: NDArray[np.float64]) -> None:
        self.first, self.rest = blocks[0], blocks[1:]
        self.n, P = Xy.shape
        self.p = P - 1
        b = self.first
        nl, k = b.nlevels, b.k
        cols, vals = rest_columns(self.rest, self.n)
        self.q_rest = int(sum(r.nlevels * r.k for r in self.rest))
        self.A11 = level_gram(b.codes, b.z, nl)
        self.AZX = level_cross_dense(b.codes, b.z, Xy, nl)
        # idx comes sorted within each level: the kernel's scatter walks down columns
        self.ptr, self.idx, self.val = level_cross_sparse(b.codes, b.z, cols, vals, nl,
                                                          self.q_rest)
        self._XyXy = XyXy
        nw = self.q_rest + P
        self.L = np.empty((nl, k, k))
        self.C = np.empty((P, nl, k))
        self.Csp = np.empty((len(self.idx), k))
        self._Tpad = padded_square(nw)
        self.T = self._Tpad[:nw]
        self.all_scalar = all(r.k == 1 for r in self.rest)
        self.has_gradient = self.all_scalar and k == 1
        self._layout = column_layout(self.rest)
        # the same entries by rest column (level order within a column)
        self.cptr, self.cent, self._level_of = column_incidence(self.ptr, self.idx,
                                                                self.q_rest)
        self._Sinv: dict[int, NDArray[np.float64]] = {}
        self._no_inverse = np.zeros((0, 0), order="F")
        self._merged = None
        if self.has_gradient:
            q = self.q_rest
            self._gram = rest_gram_lower(cols, vals, q)
            self._AXr = rest_cross_dense(cols, vals, Xy, q)
            self._merged = self._merge_pairs()
        # scratch of the scalar path on per-level pairs, reused by every evaluation
        scalar_levels = self.has_gradient and self._merged is None
        self._bs = np.empty(len(self.idx) if scalar_levels else 0)
        self._Ct = np.empty((nl, P) if scalar_levels else (0, 0))
        if self._merged is None:
            self.A22 = rest_gram(cols, vals, Xy, self.q_rest)
            self.A22[self.q_rest:, self.q_rest:] = XyXy
        else:  # the merged path reads no dense A_WW
            self.A22 = np.zeros((0, 0), order="F")

    def _merge_pairs(self, force: bool = False) -> tuple | None:
        """Level pairs merged by weight class (``_core._merge``), or None when
        the classes would not pay (about as many classes as levels) or the
        merge scratch would be too large; ``force`` skips both checks."""
        a11, cls = np.unique(self.A11[:, 0, 0], return_inverse=True)
        nclass = len(a11)
        per_level = np.diff(self.ptr)
        level_pairs = int(np.sum(per_level * (per_level + 1) // 2))
        if not force and (level_pairs > MERGE_MAX_LEVEL_PAIRS
                          or nclass > MERGE_CLASS_FRACTION * len(cls)):
            return None
        merged = merge_level_pairs(self.ptr, self.idx, self.val, cls.astype(np.int32),
                                   nclass, self.AZX, self.q_rest, *self._gram)
        XX = np.asfortranarray(self._XyXy)
        return (*merged, np.ascontiguousarray(a11), self._AXr, XX)

    def objective(self, theta: NDArray[np.float64], reml: bool,
                  grad: NDArray[np.float64] | None = None) -> float:
        """The profiled objective at theta; fills ``grad`` when given (scalar terms)."""
        if grad is not None and not self.has_gradient:
            raise NotImplementedError("the blocked solver has a gradient only when "
                                      "every random-effects term is scalar")
        start, width, loff = self._layout
        lams = lambda_values(self.rest, theta)
        rscale = lams[loff]  # lambda of each rest column (used when all are scalar)
        # the gradient needs inv(Omega) over Z (and X for REML): the kernel forms
        # it from the inverse factor that its factorization produces on the way
        Sinv = self._no_inverse if grad is None else self._inverse(self.q_rest + self.p * reml)
        obj = objective_blocked(self.A11, self.AZX, self.ptr, self.idx, self.val, self.cptr,
                                self.cent, self._level_of, self.A22,
                                self.first.lam(theta), self.q_rest, self.all_scalar,
                                rscale, start, width, loff, lams,
                                float(self.n), self.p, reml, self.L, self.C, self.Csp,
                                self._Tpad, self._bs, self._Ct, Sinv, self._merged)
        if grad is not None:
            grad[:] = self._gradient(theta, reml, rscale, Sinv) if np.isfinite(obj) else np.nan
        return obj

    def _rscale(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """The lambda of each rest column (meaningful when every rest term is scalar)."""
        return lambda_values(self.rest, theta)[self._layout[2]]

    def _inverse(self, m: int) -> NDArray[np.float64]:
        """The (padded) m x m buffer the kernel writes inv(Omega[:m, :m]) into."""
        S = self._Sinv.get(m)
        if S is None:
            S = self._Sinv[m] = padded_square(m)
        return S

    def _gradient(self, theta: NDArray[np.float64], reml: bool,
                  rscale: NDArray[np.float64], S: NDArray[np.float64]
                  ) -> NDArray[np.float64]:
        """d objective / d theta at the theta of the last evaluation (scalar terms);
        ``S`` holds inv(Omega) over Z (and X for REML) in its lower triangle."""
        q, p, T = self.q_rest, self.p, self.T
        rr = T[-1, -1] ** 2
        d = self.n - p if reml else self.n
        w2 = self._last_row_solve()
        beta, ur = -w2[q:q + p], -w2[:q]
        u1 = self._first_modes(theta, w2)[:, 0]
        lam1 = self.first.lam(theta)[0, 0]
        b1, br = lam1 * u1, rscale * ur
        # Z' r_hat = Z'y - Z'X beta - Z'Z b, from the stored blocks only
        zr1, zrr = residual_cross(self.A11, self.AZX, self.ptr, self.idx, self.val,
                                  *self._gram, self._AXr, np.ascontiguousarray(beta), b1, br)
        # sum over levels of 1 - [inv(Omega)]_ll for the first factor, where
        # [inv(Omega)]_ll = (1 + b_l' inv(S) b_l) / m_l, m_l = lam1^2 A11_l + 1:
        # formed as sum (lam1^2 A11_l - quad_l) / m_l, never as nl - (sum of ~1s)
        a11_l = self.A11[:, 0, 0]
        m_l = lam1 * lam1 * a11_l + 1.0
        if self._merged is not None and not reml:
            pptr, prow, pcls, pval, _, _, _, a11 = self._merged[:8]
            m2 = lam1 * lam1 * a11 + 1.0
            w = np.append(lam1 * lam1 / (m2 * m2), 0.0)  # f_k^2 / L_k^2; Gram class: 0
            sum_off = (float(np.sum(lam1 * lam1 * a11_l / m_l))
                       - merged_quadform(pptr, prow, pcls, pval, w, rscale, S))
        else:
            bx = self.C[:p, :, 0] if reml else np.empty((0, len(b1)))
            quad = level_quadform(self.ptr, self.idx, self.Csp[:, 0] * rscale[self.idx],
                                  np.ascontiguousarray(bx), S, q)
            sum_off = float(np.sum((lam1 * lam1 * a11_l - quad) / m_l))
        diagr = S.diagonal()[:q]
        grad = np.zeros(len(theta))
        t1 = int(self.first.tmpl[0, 0])
        logdet1 = 2.0 * sum_off / lam1 if lam1 != 0 else 0.0  # odd in lam1
        grad[t1] = logdet1 - 2.0 * d / rr * zr1 @ u1
        start = 0
        for b in self.rest:
            sl = slice(start, start + b.nlevels)
            lam = b.lam(theta)[0, 0]
            grad[int(b.tmpl[0, 0])] = (_logdet_part(diagr[sl], lam)
                                       - 2.0 * d / rr * zrr[sl] @ ur[sl])
            start += b.nlevels
        return grad


def _logdet_part(diag_inv: NDArray[np.float64], lam: float) -> float:
    """2 sum (1 - diag) / lam; its limit 0 at lam = 0 (the objective is even in
    lam, so this is odd: the optimizer may pass a negative lam)."""
    return float(2.0 * np.sum(1.0 - diag_inv) / lam) if lam != 0 else 0.0


class CholmodSolver:
    """Several factors, sparse: CHOLMOD on Lambda'Z'Z Lambda + I, analysed once."""

    name = "cholmod"
    has_gradient = False

    def __init__(self, blocks: list[FactorBlock], Xy: NDArray[np.float64],
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
        self.AZX = np.asarray(Z.T @ Xy)
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


def make_solver(blocks: list[FactorBlock], Xy: NDArray[np.float64],
                XyXy: NDArray[np.float64], solver: str = "auto"):
    """Choose the solver from the structure (or honour an explicit choice).

    ``XyXy`` is [X y]'[X y] (symmetric, Fortran order), computed once by the model.
    """
    choices = ("auto", "dense", "blocked", "cholmod")
    if solver not in choices:
        raise ValueError(f"solver={solver!r} is not one of {choices}")
    if len(blocks) == 1 and solver in ("auto", "dense"):
        return DenseSolver(blocks, Xy, XyXy)
    if solver == "dense":
        raise ValueError(f"solver='dense' needs one grouping factor; this model has "
                         f"{len(blocks)}: {[b.group for b in blocks]}")
    if solver == "auto":
        nw = sum(b.nlevels * b.k for b in blocks[1:]) + Xy.shape[1]
        solver = "blocked" if nw <= DENSE_SCHUR_MAX else "cholmod"
    cls = BlockedSolver if solver == "blocked" else CholmodSolver
    return cls(blocks, Xy, XyXy)
