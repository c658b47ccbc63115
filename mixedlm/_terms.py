"""Random-effects terms (one per bar) and factor blocks (terms sharing a factor).

A :class:`ReMat` is one bar such as ``(1 + Days | Subject)``: the grouping
factor's codes and levels and the term's model-matrix rows. Terms follow lme4's
order (decreasing number of levels, stable), which fixes the order of theta.

A :class:`FactorBlock` merges the terms on one grouping factor, as in
``(1 | Subject) + (0 + Days | Subject)``: its relative covariance factor is the
block-diagonal of the terms' lower-triangular factors, and ``tmpl`` says which
theta each entry holds. The solvers work on blocks, ordered by decreasing
number of random effects, so that the first one is the largest block-diagonal
piece of Z'Z (MixedModels.jl's ordering).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import formulaic
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._formula import RandomTerm
from ._grouping import as_grouping_codes
from ._validation import check_finite_matrix, check_grouping


@dataclass
class ReMat:
    """One random-effects term.

    Attributes
    ----------
    group : str
        Grouping factor name as written (``"batch:cask"``).
    cnames : list of str
        Column names of the term's model matrix (``["Intercept", "Days"]``).
    codes : ndarray of shape (n,), int32
        Level of each observation.
    levels : pandas.Index
        Level labels, in code order.
    z : ndarray of shape (n, k), float64
        The term's model-matrix rows.
    """

    group: str
    cnames: list[str]
    codes: NDArray[np.int32]
    levels: pd.Index
    z: NDArray[np.float64]

    @property
    def k(self) -> int:
        """Number of columns (random effects per level)."""
        return self.z.shape[1]

    @property
    def nlevels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)

    @property
    def ntheta(self) -> int:
        """Number of covariance parameters: the lower triangle of a k x k factor."""
        return self.k * (self.k + 1) // 2


@dataclass
class FactorBlock:
    """The terms on one grouping factor, merged into a K-column block."""

    group: str
    codes: NDArray[np.int32]
    levels: pd.Index
    z: NDArray[np.float64]
    terms: list[int]
    col_offsets: list[int]
    tmpl: NDArray[np.int64]
    lam_pos: NDArray[np.int64] = field(init=False)
    lam_theta: NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        flat = self.tmpl.ravel(order="F")
        self.lam_pos = np.flatnonzero(flat >= 0)
        self.lam_theta = flat[self.lam_pos]

    @property
    def k(self) -> int:
        """Number of random effects per level."""
        return self.z.shape[1]

    @property
    def nlevels(self) -> int:
        """Number of levels."""
        return len(self.levels)

    def lam(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """The K x K lower-triangular relative covariance factor (Fortran order)."""
        out = np.zeros((self.k, self.k), order="F")
        out.ravel(order="F")[self.lam_pos] = theta[self.lam_theta]
        return out


def simple_columns(lhs: str, data: pd.DataFrame) -> list[str] | None:
    """The tokens of ``lhs`` when it is a sum of plain numeric columns and of the
    intercept markers 1, 0, -1 (``"1 + Days"``); None for anything else, which
    then goes through formulaic. Building these directly saves formulaic's few
    milliseconds on small models; the names and order match formulaic's."""
    names = []
    for tok in (t.strip() for t in lhs.split("+")):
        if tok in ("1", "0", "-1") or (tok in data.columns
                                        and pd.api.types.is_numeric_dtype(data[tok])
                                        and not pd.api.types.is_bool_dtype(data[tok])):
            names.append(tok)
        else:
            return None
    return names


def term_matrix(lhs: str, data: pd.DataFrame) -> tuple[NDArray[np.float64], list[str]]:
    """The model matrix of a term's left side (``"1 + Days"``) and its column names.

    Simple sums of numeric columns are built directly; anything else (factors,
    transforms, interactions) goes through formulaic.
    """
    n = len(data)
    simple = simple_columns(lhs, data)
    if simple is not None:
        intercept = "0" not in simple and "-1" not in simple
        cols = [c for c in simple if c not in ("1", "0", "-1")]
        mats = ([np.ones(n)] if intercept else []) + [
            np.asarray(data[c], dtype=np.float64) for c in cols]
        names = (["Intercept"] if intercept else []) + cols
        z = np.column_stack(mats) if mats else np.empty((n, 0))
    else:
        mm = formulaic.model_matrix(lhs, data, na_action="ignore")
        z = np.asarray(mm, dtype=np.float64)
        names = [str(c) for c in mm.columns]
    if z.shape[1] == 0:
        raise ValueError(f"random-effects term '{lhs}' has no columns; "
                         "write at least '1' or a variable before the bar")
    return np.ascontiguousarray(z), names


def build_terms(random: tuple[RandomTerm, ...], data: pd.DataFrame) -> list[ReMat]:
    """ReMats for the parsed bars, sorted as lme4 does (decreasing levels, stable)."""
    terms = []
    for term in random:
        codes, levels = as_grouping_codes(data, term.group_vars, term.group)
        check_grouping(len(levels), len(data), term.group)
        z, names = term_matrix(term.lhs, data)
        check_finite_matrix(z, names, f"random-effects term {term.source}")
        terms.append(ReMat(term.group, names, codes, levels, z))
    order = sorted(range(len(terms)), key=lambda i: -terms[i].nlevels)
    return [terms[i] for i in order]


def build_blocks(terms: list[ReMat]) -> list[FactorBlock]:
    """Merge terms on the same grouping factor; order blocks by size, largest first."""
    theta_start = np.cumsum([0] + [t.ntheta for t in terms])
    by_group: dict[str, list[int]] = {}
    for i, t in enumerate(terms):
        by_group.setdefault(t.group, []).append(i)
    blocks = []
    for group, idx in by_group.items():
        ks = [terms[i].k for i in idx]
        K = sum(ks)
        tmpl = np.full((K, K), -1, dtype=np.int64, order="F")
        offsets = list(np.cumsum([0] + ks[:-1]))
        for i, off in zip(idx, offsets):
            t, k = theta_start[i], terms[i].k
            for c in range(k):
                for r in range(c, k):
                    tmpl[off + r, off + c] = t
                    t += 1
        z = np.ascontiguousarray(np.column_stack([terms[i].z for i in idx]))
        first = terms[idx[0]]
        blocks.append(FactorBlock(group, first.codes, first.levels, z, idx,
                                  [int(o) for o in offsets], tmpl))
    order = sorted(range(len(blocks)), key=lambda b: -blocks[b].nlevels * blocks[b].k)
    return [blocks[b] for b in order]


def theta_lower_bounds(terms: list[ReMat]) -> NDArray[np.float64]:
    """0 for diagonal entries of each term's factor, -inf for off-diagonal ones."""
    lb = []
    for t in terms:
        for c in range(t.k):
            for r in range(c, t.k):
                lb.append(0.0 if r == c else -np.inf)
    return np.array(lb)


def theta_scales(terms: list[ReMat]) -> NDArray[np.float64]:
    """Per theta entry, sqrt(levels of its term / most levels of any term).

    The optimizer works on log(theta) times this: the curvature of the profiled
    deviance in a term's log scale grows about linearly with its number of
    levels (each level is one draw of the effect), so this scaling evens the
    curvatures that a quasi-Newton method starts out not knowing (measured on
    the 18 reference fits: 161 evaluations against 178 unscaled; InstEval with
    dept:service 9 against 15).
    """
    n = np.concatenate([np.full(t.k * (t.k + 1) // 2, float(t.nlevels)) for t in terms]
                       ) if terms else np.empty(0)
    return np.sqrt(n / n.max()) if n.size else n


def theta_columns(terms: list[ReMat]) -> NDArray[np.int64]:
    """Per theta entry, the index of the diagonal entry of its column of Lambda.

    Negating one column of a term's factor (its diagonal entry and the entries
    below it) leaves Lambda Lambda' and so the objective unchanged; the
    optimizer uses this to search diagonals on the whole real line and report
    them nonnegative, as lme4 does.
    """
    out, i = [], 0
    for t in terms:
        for c in range(t.k):
            d = i
            for _r in range(c, t.k):
                out.append(d)
                i += 1
    return np.array(out, dtype=np.int64)


def theta_names(terms: list[ReMat]) -> list[str]:
    """lme4-style names: ``Subject.Intercept``, ``Subject.Days.Intercept``, ..."""
    out = []
    for t in terms:
        for c in range(t.k):
            for r in range(c, t.k):
                out.append(f"{t.group}.{t.cnames[r]}" if r == c
                           else f"{t.group}.{t.cnames[r]}.{t.cnames[c]}")
    return out
