"""mixedlm: linear mixed-effects models with lme4's answers.

>>> import mixedlm
>>> df = mixedlm.datasets.load("sleepstudy")
>>> r = mixedlm.lmm("Reaction ~ 1 + Days + (1 + Days|Subject)", df).fit()
"""
from . import datasets
from ._model import LinearMixedModel, lmm
from ._optsummary import OptSummary
from ._results import LinearMixedModelResults
from ._summary import Summary
from ._varcorr import VarCorr
from ._warnings import ConvergenceWarning, RankDeficiencyWarning, SingularFitWarning

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "LinearMixedModel",
    "LinearMixedModelResults",
    "OptSummary",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "Summary",
    "VarCorr",
    "datasets",
    "lmm",
]
