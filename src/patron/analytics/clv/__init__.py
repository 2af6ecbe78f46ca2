"""Buy-till-you-die models: numpy/scipy, scikit-learn's estimator contract (see ``base``)."""

from patron.analytics.clv.base import InvalidData, Model, NotConverged, NotFitted
from patron.analytics.clv.bgnbd import BetaGeoFitter
from patron.analytics.clv.compare import (
    FrequencyBin,
    ModelScore,
    expected_cumulative_purchases,
    holdout_comparison,
)
from patron.analytics.clv.gammagamma import GammaGammaFitter
from patron.analytics.clv.mbgnbd import ModifiedBetaGeoFitter
from patron.analytics.clv.paretonbd import ParetoNBDFitter
from patron.analytics.clv.transaction import TransactionModel

MODELS: dict[str, type[Model]] = {
    "bgnbd": BetaGeoFitter,
    "pnbd": ParetoNBDFitter,
    "mbgnbd": ModifiedBetaGeoFitter,
    "gg": GammaGammaFitter,
}

__all__ = [
    "MODELS",
    "BetaGeoFitter",
    "FrequencyBin",
    "GammaGammaFitter",
    "InvalidData",
    "ModelScore",
    "ModifiedBetaGeoFitter",
    "NotConverged",
    "NotFitted",
    "ParetoNBDFitter",
    "TransactionModel",
    "expected_cumulative_purchases",
    "holdout_comparison",
]
