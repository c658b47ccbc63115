"""Solvers: the cross-product blocks, built once, and the factor L updated per theta.

Three solvers share one interface (``objective``, ``solution``):

* :class:`DenseSolver` - one grouping factor; per-level blocks and an analytic
  gradient (``_core._dense``).
* :class:`BlockedSolver` - several factors; the first is eliminated per level
  and the rest form a dense Schur complement (``_core._blocked``).
* :class:`~._cholmod_solver.CholmodSolver` - several factors; Lambda'Z'Z Lambda
  + I is refactored in place by CHOLMOD on a pattern analysed once
  (``_cholmod_solver``).

All of them keep the model's [X y] only through its cross products: no
evaluation passes over the observations.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._cholmod_solver import CholmodSolver
from ._core._basis import basis_quadform
from ._core._blocked import objective_blocked
from ._core._chol import solve_lower_transposed
from ._core._dense import objective_single
from ._core._gradient import (
    NORMSQ_WORK_ROWS,
    level_matvec,
    level_normsq,
    level_quadform,
    merged_quadform,
    residual_cross,
)
from ._core._remat import column_incidence, level_cross_sparse, level_gram
from ._fixed import XyMatrix, level_cross, rest_cross
from ._layout import (
    column_layout,
    lambda_values,
    padded_square,
    rest_columns,
    rest_gram_lower,
)
from ._dissection import dissect
from ._pairs import basis_pairs, merged_pairs, normsq_pays
from ._terms import FactorBlock

#: Largest dense Schur complement (rest random effects + p + 1) the "auto"
#: choice hands to the blocked dense solver (128 MiB of float64).
DENSE_SCHUR_MAX = 4096


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
                # Csp = f_l val per entry, f_l = lam1 / L_l
                f = self.first.lam(theta)[0, 0] / self.L[:, 0, 0]
                s1 += f * level_matvec(self.ptr, self.idx, self.val, lw, self.q_rest)
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

    def _term_order(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        """A vector over the stored rest columns in the terms' order (the
        blocked solver may store them in a dissected order)."""
        return v

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
        wr = self._term_order(w2[:q])
        start = 0
        for b in self.rest:
            m = b.nlevels * b.k
            us.append(-wr[start:start + m].reshape(b.nlevels, b.k))
            start += m
        RX = np.tril(self.T[q:q + p, q:q + p])
        return beta, us, RX, float(r * r)


class DenseSolver(_FirstBlockSolver):
    """One grouping factor: per-level K x K blocks, with an analytic gradient."""

    name = "dense"
    has_gradient = True

    def __init__(self, blocks: list[FactorBlock], Xy: XyMatrix,
                 XyXy: NDArray[np.float64]) -> None:
        (b,) = blocks
        self.first, self.rest, self.q_rest = b, [], 0
        self.n, P = Xy.shape
        self.p = P - 1
        nl, k = b.nlevels, b.k
        self.A11 = level_gram(b.codes, b.z, nl)
        self.AZX = level_cross(b.codes, b.z, Xy, nl)
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
    form (``_core._gradient``). With scalar terms the rest columns may be
    stored in a dissected order (``_dissection``), whose independent
    components ``_core._sepchol`` factors before the dense root; vectors over
    them are put back in the terms' order by ``_term_order``.
    """

    name = "blocked"

    def __init__(self, blocks: list[FactorBlock], Xy: XyMatrix,
                 XyXy: NDArray[np.float64]) -> None:
        self.first, self.rest = blocks[0], blocks[1:]
        self.n, P = Xy.shape
        self.p = P - 1
        b = self.first
        nl, k = b.nlevels, b.k
        cols, vals = rest_columns(self.rest, self.n)
        self.q_rest = int(sum(r.nlevels * r.k for r in self.rest))
        self.A11 = level_gram(b.codes, b.z, nl)
        self.AZX = level_cross(b.codes, b.z, Xy, nl)
        self.all_scalar = all(r.k == 1 for r in self.rest)
        self.has_gradient = self.all_scalar and k == 1
        # idx comes sorted within each level: the kernel's scatter walks down columns
        self.ptr, self.idx, self.val = level_cross_sparse(b.codes, b.z, cols, vals, nl,
                                                          self.q_rest)
        # the rest block's Gram (lower, CSC): with Z_rest'[X y] below, the passes
        # over the rows for the rest factors
        self._gram = rest_gram_lower(cols, vals, self.q_rest)
        # scalar terms: the rest columns stored in a dissected order when its
        # factorization pays (``_dissection``); everything below is built in it
        # (the level entries and the Gram again, relabelled: about 1 ms on InstEval)
        self._dissection = (dissect(self.ptr, self.idx, self._gram, self.q_rest, P)
                            if self.has_gradient else None)
        if self._dissection is not None:
            cols = self._dissection.iperm[cols].astype(np.int32)
            self.ptr, self.idx, self.val = level_cross_sparse(b.codes, b.z, cols, vals, nl,
                                                              self.q_rest)
            self._gram = rest_gram_lower(cols, vals, self.q_rest)
        self._XyXy = np.asfortranarray(XyXy)  # the kernels read it column-major
        nw = self.q_rest + P
        self.L = np.empty((nl, k, k))
        self.C = np.empty((P, nl, k))
        self.Csp = np.empty((len(self.idx), k))
        self._Tpad = padded_square(nw)
        self.T = self._Tpad[:nw]
        self._layout = column_layout(self.rest)
        # the lambda of each stored rest column: its offset in lambda_values
        self._loff = (self._layout[2] if self._dissection is None
                      else self._layout[2][self._dissection.perm])
        # the same entries by rest column (level order within a column)
        self.cptr, self.cent, self._level_of = column_incidence(self.ptr, self.idx,
                                                                self.q_rest)
        self._Sinv: dict[int, NDArray[np.float64]] = {}
        self._no_inverse = np.zeros((0, 0), order="F")
        self._merged = self._basis = None
        self._AXr = rest_cross(cols, vals, Xy, self.q_rest)
        if self.has_gradient:  # the level pairs' representation (``_pairs``)
            self._merged = merged_pairs(self)
            if self._merged is None:
                self._basis = basis_pairs(self)
        # the merged path's ML gradient from the inverse factor alone, when cheaper
        # than forming inv(S) (``_pairs.normsq_pays``)
        self._normsq = self._merged is not None and normsq_pays(self.idx, self.q_rest)
        self._normsq_work: NDArray[np.float64] | None = None  # its scratch, made on first use
        self._gram_formed = True  # of the last evaluation: inv(S) (else inv(L11))
        self._path = "levels"  # of the last evaluation: "levels", "merged" or "basis"
        self._bs = self._Ct = None
        if self._merged is None and self._basis is None:
            self._level_path_arrays()
        else:  # the level path's dense A_WW and scratch only if ever needed
            self.A22 = np.zeros((0, 0), order="F")

    def _level_path_arrays(self) -> None:
        """The per-level path's dense A_WW (lower triangle, from the stored Gram
        pieces) and scratch; built at construction, or on first need when a
        class-basis evaluation falls back to this path."""
        q, P = self.q_rest, self.p + 1
        scalar_levels = self.has_gradient
        self._bs = np.empty(len(self.idx) if scalar_levels else 0)
        self._Ct = np.empty((self.A11.shape[0], P) if scalar_levels else (0, 0))
        gptr, grow, gval = self._gram
        self.A22 = np.zeros((q + P, q + P), order="F")
        self.A22[grow, np.repeat(np.arange(q), np.diff(gptr))] = gval
        self.A22[q:, :q] = self._AXr.T
        self.A22[q:, q:] = self._XyXy

    def objective(self, theta: NDArray[np.float64], reml: bool,
                  grad: NDArray[np.float64] | None = None) -> float:
        """The profiled objective at theta; fills ``grad`` when given (scalar terms)."""
        if grad is not None and not self.has_gradient:
            raise NotImplementedError("the blocked solver has a gradient only when "
                                      "every random-effects term is scalar")
        start, width, loff = self._layout
        lams = lambda_values(self.rest, theta)
        rscale = lams[self._loff]  # lambda of each stored rest column (scalar terms)
        # the gradient needs inv(Omega) over Z (and X for REML): the kernel forms
        # it from the inverse factor that its factorization produces on the way
        Sinv = self._no_inverse if grad is None else self._inverse(self.q_rest + self.p * reml)
        merged, basis = self._pairs_at(theta)
        self._gram_formed = not (grad is not None and not reml and self._normsq
                                 and self._path == "merged")
        obj = objective_blocked(self.A11, self.AZX, self.ptr, self.idx, self.val, self.cptr,
                                self.cent, self._level_of, self.A22,
                                self.first.lam(theta), self.q_rest, self.all_scalar,
                                rscale, start, width, loff, lams,
                                float(self.n), self.p, reml, self.L, self.C, self.Csp,
                                self._Tpad, self._bs, self._Ct, Sinv, merged, basis,
                                gram=self._gram_formed, dissected=self._dissected_arg())
        if grad is not None:
            grad[:] = self._gradient(theta, reml, rscale, Sinv) if np.isfinite(obj) else np.nan
        return obj

    def _pairs_at(self, theta: NDArray[np.float64]) -> tuple[tuple | None, tuple | None]:
        """The ``merged`` and ``basis`` arguments of this evaluation; records the path."""
        self._path = "levels"
        if self._merged is not None:
            self._path = "merged"
            return self._merged, None
        if self._basis is not None:
            alpha = self._basis.weights(self.first.lam(theta)[0, 0])
            if alpha is not None:
                self._path = "basis"
                return None, (self._basis.Pb, self._basis.Xb, alpha, *self._gram,
                              self._AXr, self._XyXy)
        if self._bs is None:  # a basis evaluation whose weights failed the check
            self._level_path_arrays()
        return None, None

    def _rscale(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """The lambda of each stored rest column (meaningful when every rest term
        is scalar)."""
        return lambda_values(self.rest, theta)[self._loff]

    def _dissected_arg(self) -> tuple | None:
        """The ``dissected`` argument of ``objective_blocked`` (from
        ``_dissection``, the one place it is kept)."""
        d = self._dissection
        return None if d is None else (d.cstart, d.rptr, d.rrow, d.work, d.gsize, d.usize)

    def _term_order(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        """A vector over the stored rest columns in the terms' order."""
        return v if self._dissection is None else v[self._dissection.iperm]

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
        ``S`` holds inv(Omega) over Z (and X for REML) in its lower triangle, or,
        when that evaluation did not form it (``_gram_formed`` false), the
        inverse factor inv(L11)."""
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
        # the class weights of the quadratic forms, g = f^2 / L^2 = lam1^2 / m^2
        gb = self._basis.gradient_weights(lam1) if self._path == "basis" else None
        diagr = None
        if not self._gram_formed:  # S holds X = inv(L11): ||X b_l||^2 = b_l' inv(S) b_l
            # and diag(inv(S)) = the squared columns of X
            if self._normsq_work is None:
                self._normsq_work = np.empty(NORMSQ_WORK_ROWS * q)
            quad, diagr = level_normsq(self.ptr, self.idx, self.val,
                                       np.ascontiguousarray(lam1 * lam1 / (m_l * m_l)),
                                       rscale, S, q, self._normsq_work)
            sum_off = float(np.sum(lam1 * lam1 * a11_l / m_l)) - quad
        elif self._path == "merged" and not reml:
            mp = self._merged
            m2 = lam1 * lam1 * mp.a11 + 1.0
            w = np.append(lam1 * lam1 / (m2 * m2), 0.0)  # Gram class: 0
            sum_off = (float(np.sum(lam1 * lam1 * a11_l / m_l))
                       - merged_quadform(mp.pptr, mp.prow, mp.pval, mp.rcol, mp.rptr,
                                         mp.rcls, w, rscale, S))
        elif gb is not None:
            quad = basis_quadform(self._basis.Pb, self._basis.Xb, gb, rscale, S,
                                  p if reml else 0)
            if reml and p:  # the per-level AZX' S_xx AZX terms
                Sxx = np.tril(S[q:q + p, q:q + p])
                Sxx = Sxx + np.tril(Sxx, -1).T
                ax = self.AZX[:p, :, 0]
                quad += float(np.einsum("l,jl,jk,kl->", lam1 * lam1 / (m_l * m_l),
                                        ax, Sxx, ax))
            sum_off = float(np.sum(lam1 * lam1 * a11_l / m_l)) - quad
        else:
            bx = self.C[:p, :, 0] if reml else np.empty((0, len(b1)))
            if self._path == "basis":  # that path leaves Csp = f_l val unwritten
                csp = (lam1 / self.L[:, 0, 0])[self._level_of] * self.val[:, 0]
            else:
                csp = self.Csp[:, 0]
            quad = level_quadform(self.ptr, self.idx, csp * rscale[self.idx],
                                  np.ascontiguousarray(bx), S, q)
            sum_off = float(np.sum((lam1 * lam1 * a11_l - quad) / m_l))
        if diagr is None:
            diagr = S.diagonal()[:q]
        diagr, zrr, ur = self._term_order(diagr), self._term_order(zrr), self._term_order(ur)
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


def make_solver(blocks: list[FactorBlock], Xy: XyMatrix,
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
