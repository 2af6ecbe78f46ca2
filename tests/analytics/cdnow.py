"""The CDNOW sample as Fader, Hardie & Lee summarise it: calibration 1997-01-01..1997-09-30, weeks;
the holdout period follows until 1998-06-30."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

START = date(1997, 1, 1)
CALIBRATION_END = date(1997, 9, 30)


def summary(shared_data: Path) -> tuple[NDArray[np.float64], ...]:
    """(x, t_x, T) per customer: repeat purchase days, age at the last one, age at the end."""
    rows = np.loadtxt(shared_data / "cdnow" / "CDNOW_sample.txt", dtype=str)
    customers = rows[:, 1].astype(np.int64)
    days = np.array([(date(int(d[:4]), int(d[4:6]), int(d[6:])) - START).days for d in rows[:, 2]])
    end = (CALIBRATION_END - START).days
    x, t_x, age = [], [], []
    for customer in np.unique(customers):
        bought = np.unique(days[customers == customer])
        first, calibration = bought.min(), bought[bought <= end]
        x.append(calibration.size - 1)
        t_x.append((calibration.max() - first) / 7)
        age.append((end - first) / 7)
    return np.array(x, float), np.array(t_x), np.array(age)


HOLDOUT_END = date(1998, 6, 30)


def purchase_days(shared_data: Path) -> list[NDArray[np.int64]]:
    """Per customer, in ``summary``'s order, the days (after START) with a purchase, each once:
    the first is the first purchase, the ones after CALIBRATION_END up to HOLDOUT_END make up
    the holdout period's repeat purchases."""
    rows = np.loadtxt(shared_data / "cdnow" / "CDNOW_sample.txt", dtype=str)
    customers = rows[:, 1].astype(np.int64)
    days = np.array([(date(int(d[:4]), int(d[4:6]), int(d[6:])) - START).days for d in rows[:, 2]])
    return [np.unique(days[customers == customer]) for customer in np.unique(customers)]
