"""Warnings raised by mixedlm (all subclass UserWarning)."""
from __future__ import annotations


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without meeting its convergence criteria."""


class SingularFitWarning(UserWarning):
    """Boundary (singular) fit: some random-effect variance or correlation is degenerate."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix was rank deficient; columns were dropped."""
