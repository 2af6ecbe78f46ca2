"""Buy-till-you-die models: numpy/scipy, scikit-learn's estimator contract (see ``base``)."""

from patron.analytics.clv.base import InvalidData, NotConverged, NotFitted
from patron.analytics.clv.bgnbd import BetaGeoFitter

__all__ = ["BetaGeoFitter", "InvalidData", "NotConverged", "NotFitted"]
