"""Buy-till-you-die models: numpy/scipy, scikit-learn's estimator contract (see ``base``)."""

from patron.analytics.clv.base import InvalidData, NotConverged, NotFitted
from patron.analytics.clv.bgnbd import BetaGeoFitter
from patron.analytics.clv.gammagamma import GammaGammaFitter
from patron.analytics.clv.mbgnbd import ModifiedBetaGeoFitter
from patron.analytics.clv.paretonbd import ParetoNBDFitter

__all__ = [
    "BetaGeoFitter",
    "GammaGammaFitter",
    "InvalidData",
    "ModifiedBetaGeoFitter",
    "NotConverged",
    "NotFitted",
    "ParetoNBDFitter",
]
