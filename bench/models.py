"""The benchmark models, shared by every runner.

Each entry names the dataset and the formula in lme4 syntax.  All models
are fitted by maximum likelihood (``REML=FALSE``).  ``quick`` marks the
subset used by ``run.sh --quick``; ``peers`` marks the models on which the
Python peer packages are run (the brief asks for sleepstudy and both
InstEval models at minimum, the small ones are cheap so all are tried).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    """One benchmark model.

    Attributes
    ----------
    key : str
        Short identifier used in tables and on command lines.
    dataset : str
        Key in ``datasets_meta.json``.
    formula : str
        lme4-style model formula.
    ref_id : str
        Fit id in ``lme4_public.json`` (reference deviance).
    quick : bool
        Included in ``--quick`` runs.
    big : bool
        Takes seconds rather than milliseconds (fewer repetitions).
    """

    key: str
    dataset: str
    formula: str
    ref_id: str
    quick: bool = False
    big: bool = False


MODELS = (
    Model("dyestuff", "dyestuff", "Yield ~ 1 + (1|Batch)", "dyestuff_ML"),
    Model(
        "sleepstudy",
        "sleepstudy",
        "Reaction ~ 1 + Days + (1 + Days|Subject)",
        "sleepstudy_corr_ML",
        quick=True,
    ),
    Model("penicillin", "penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "penicillin_ML"),
    Model("pastes", "pastes", "strength ~ 1 + (1|batch/cask)", "pastes_ML"),
    Model(
        "insteval_full",
        "insteval",
        "y ~ 1 + service*dept + (1|s) + (1|d)",
        "insteval_full_ML",
        quick=True,
        big=True,
    ),
    Model(
        "insteval_dept",
        "insteval",
        "y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)",
        "insteval_dept_ML",
        big=True,
    ),
)

BY_KEY = {m.key: m for m in MODELS}


def select(quick: bool = False) -> tuple[Model, ...]:
    """Return the models for a full or a ``--quick`` run.

    Parameters
    ----------
    quick : bool
        Only sleepstudy and InstEval ``service*dept`` when true.

    Returns
    -------
    tuple of Model
    """
    return tuple(m for m in MODELS if m.quick or not quick)
