"""The one kind of moment care's requests take: with its offset, and in a plausible year.

A year far out (0001 with an offset, say) cannot even be turned into UTC; such a request is
refused as invalid rather than failing on the way into the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

FIRST_YEAR, LAST_YEAR = 1970, 9998


def _plausible(moment: datetime) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
