"""The demo shop's buying behaviour, drawn from BG/NBD and Gamma-Gamma with known parameters.

Analytics are checked against this ground truth, so the data-generating process is exactly:

* Time is measured in weeks from ``OBSERVATION_START`` to ``OBSERVATION_END`` (3 years).
* Each customer draws a purchase rate ``λ ~ Gamma(shape=r, rate=α)`` (purchases per week while
  alive) and a dropout probability ``p ~ Beta(a, b)``.
* The first purchase (time ``t0``) starts the relationship; ``T = today - t0`` in weeks.
  Repeat purchases follow a Poisson process with rate ``λ · s(t) / s̄`` where ``s`` is the
  monthly seasonality of ``SEASON_FACTORS`` and ``s̄`` its mean over the customer's own window
  ``[t0, today]`` (see ``Clock``). So an alive customer expects exactly ``λ · T`` purchases in
  the observation, as BG/NBD assumes; the season only moves *when* they buy (more in November
  and December). Normalising per calendar year instead would bias a calendar-time fit, because
  the window ends just before the peak. After each *repeat* purchase the customer drops out
  with probability ``p``: the
  number of repeat purchases made before leaving is ``J ~ Geometric(p)`` on {1, 2, …}, as in
  Fader, Hardie & Lee (2005). ``dropped_out_at`` is the instant of the J-th repeat purchase when
  it falls inside the window, else the customer is alive at the end.
* A customer buys at most once per UTC day: a repeat purchase on the same day as the previous
  one moves to the next free day (about 4 % of repeats, nearly all from high-rate customers),
  and one moved past today is dropped (``one_per_day``).
* Regular buyers (a few subscription candidates) replace the Poisson process by a renewal process
  with Gamma(shape=``REGULAR_SHAPE``) gaps of mean ``1/λ`` in calendar time (no seasonality); λ,
  p and the dropout rule are the same. They are named in the run's parameters.
* Each purchase has the value ``z ~ Gamma(shape=p_s, rate=ν)`` euros with ``ν ~ Gamma(q, rate=γ)``
  per customer (Gamma-Gamma); organisations' values are multiplied by
  ``organisation_spend_factor`` (i.e. their ν has rate ``γ · factor``). ``mean_spend`` in the
  truth table is ``factor · p_s / ν``. Each order's net amount (sum of its lines, before returns)
  is this value rounded to the cent; purchase times get a believable time of day within the same
  UTC date.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

OBSERVATION_START = np.datetime64("2023-11-01T00:00:00", "s")
OBSERVATION_END = np.datetime64("2026-11-01T00:00:00", "s")  # "today" is 2026-10-31
SECONDS_PER_WEEK = 7 * 86_400
WINDOW_WEEKS = float((OBSERVATION_END - OBSERVATION_START) / np.timedelta64(SECONDS_PER_WEEK, "s"))
# Relative purchase intensity per calendar month (January first), before normalisation.
SEASON_FACTORS = (0.85, 0.8, 0.9, 0.95, 0.95, 0.9, 0.85, 0.85, 0.95, 1.0, 1.3, 1.6)
REGULAR_SHAPE = 12.0  # gaps of regular buyers: coefficient of variation 1/sqrt(12) ≈ 0.29


@dataclass(frozen=True)
class BgNbd:
    """Population parameters of the purchase process; rates are per week."""

    r: float = 0.25
    alpha: float = 4.5
    a: float = 0.8
    b: float = 2.5


@dataclass(frozen=True)
class GammaGamma:
    """Population parameters of the value of one purchase, in euros."""

    p: float = 6.0
    q: float = 4.0
    gamma: float = 15.0
    organisation_spend_factor: float = 5.0


@dataclass(frozen=True)
class Traits:
    """The latent traits of each customer (the ground truth stored per customer)."""

    rate: np.ndarray  # λ, purchases per week while alive
    dropout: np.ndarray  # p, chance to leave after each repeat purchase
    nu: np.ndarray  # ν of the Gamma-Gamma model (before the organisation factor)
    spend_factor: np.ndarray  # 1 for persons, organisation_spend_factor for organisations
    mean_spend: np.ndarray  # expected value of one purchase, euros


@dataclass(frozen=True)
class Purchases:
    """All purchases, grouped by customer and chronological within each customer."""

    owner: np.ndarray  # customer index of each purchase
    week: np.ndarray  # weeks since OBSERVATION_START
    dropped: np.ndarray  # per customer: left inside the window (after their last purchase)


@dataclass(frozen=True)
class Orders:
    """Orders in chronological order (their external numbers follow it); money in cents."""

    owner: np.ndarray  # customer index
    placed: np.ndarray  # epoch seconds, UTC
    value: np.ndarray  # cents: the net amount of all lines
    channel: np.ndarray  # index into people.CHANNELS


def season_weights() -> np.ndarray:
    """The monthly factors s(m), scaled so that they average 1 over the days of a year."""
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)
    raw = np.array(SEASON_FACTORS)
    return raw * days.sum() / float((raw * days).sum())


class Clock:
    """Calendar weeks ↔ operational weeks, piecewise linear between month starts."""

    def __init__(self) -> None:
        months = np.arange(
            OBSERVATION_START.astype("datetime64[M]"), OBSERVATION_END.astype("datetime64[M]") + 1
        )
        starts = months.astype("datetime64[s]")
        self.knots = (starts - OBSERVATION_START) / np.timedelta64(SECONDS_PER_WEEK, "s")
        factors = season_weights()[months.astype(int) % 12][:-1]
        self.operational_knots = np.concatenate([[0.0], np.cumsum(factors * np.diff(self.knots))])

    def operational(self, weeks: np.ndarray) -> np.ndarray:
        return np.interp(weeks, self.knots, self.operational_knots)

    def calendar(self, operational: np.ndarray) -> np.ndarray:
        return np.interp(operational, self.operational_knots, self.knots)

    def seasonal_instants(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Calendar weeks drawn with density proportional to the seasonality (e.g. acquisitions)."""
        return self.calendar(rng.uniform(0.0, self.operational(np.array(WINDOW_WEEKS)), n))


def draw_traits(
    rng: np.random.Generator, is_org: np.ndarray, bgnbd: BgNbd, gg: GammaGamma
) -> Traits:
    n = len(is_org)
    rate = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, n)
    dropout = np.clip(rng.beta(bgnbd.a, bgnbd.b, n), 1e-9, 1.0)
    nu = rng.gamma(gg.q, 1.0 / gg.gamma, n)
    factor = np.where(is_org, gg.organisation_spend_factor, 1.0)
    return Traits(rate, dropout, nu, factor, factor * gg.p / nu)


def _segmented_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums that restart for every segment of ``counts`` consecutive values."""
    total = np.cumsum(values)
    ends = np.cumsum(counts)
    before = np.concatenate([[0.0], total])[ends - counts]
    return total - np.repeat(before, counts)


def poisson_repeats(
    rng: np.random.Generator,
    rate: np.ndarray,
    repeats_alive: np.ndarray,
    start: np.ndarray,
    clock: Clock,
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases of a seasonal Poisson process, stopped after ``repeats_alive`` of them.

    The window holds Poisson(λ T) arrivals; in operational (seasonal) time they are sorted
    uniforms, and the first m of n sorted uniforms are ``S_k / (S_m + G)`` with ``S`` the
    cumulative sum of m standard exponentials and ``G ~ Gamma(n - m + 1)``, so only the
    purchases actually made are drawn. Returns (count per customer, calendar weeks of all
    purchases grouped by customer).
    """
    op_start = clock.operational(start)
    span = clock.operational(np.array(WINDOW_WEEKS)) - op_start
    arrivals = rng.poisson(rate * (WINDOW_WEEKS - start))
    made = np.minimum(arrivals, repeats_alive)
    spacing = _segmented_cumsum(rng.standard_exponential(int(made.sum())), made)
    last = np.zeros(len(made))
    has = made > 0
    last[has] = spacing[np.cumsum(made)[has] - 1]
    total = last + rng.standard_gamma(arrivals - made + 1.0)
    fraction = spacing / np.repeat(total, made)
    operational = np.repeat(op_start, made) + np.repeat(span, made) * fraction
    return made, clock.calendar(operational)


def renewal_repeats(
    rng: np.random.Generator, rate: np.ndarray, repeats_alive: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases at a regular rhythm: Gamma(REGULAR_SHAPE) gaps with mean 1/λ weeks."""
    span = WINDOW_WEEKS - start
    enough = np.ceil(rate * span * 1.5 + 10).astype(np.int64)
    drawn = np.minimum(repeats_alive, enough)
    gaps = rng.gamma(REGULAR_SHAPE, 1.0 / (REGULAR_SHAPE * np.repeat(rate, drawn)))
    offset = _segmented_cumsum(gaps, drawn)
    inside = offset < np.repeat(span, drawn)  # a prefix of each customer's draws
    made = np.bincount(np.repeat(np.arange(len(rate)), drawn)[inside], minlength=len(rate))
    return made, (np.repeat(start, drawn) + offset)[inside]


def simulate_purchases(
    rng: np.random.Generator,
    traits: Traits,
    first_purchase: np.ndarray,
    regular: np.ndarray,
    clock: Clock,
) -> Purchases:
    """First purchases (NaN: none yet) and every repeat purchase until dropout or today."""
    buyers = np.flatnonzero(~np.isnan(first_purchase))
    repeats_alive = rng.geometric(traits.dropout[buyers])
    made = np.zeros(len(buyers), dtype=np.int64)
    owners, weeks = [buyers], [first_purchase[buyers]]
    for rhythmic in (False, True):
        mask = regular[buyers] == rhythmic
        who = buyers[mask]
        args = (rng, traits.rate[who], repeats_alive[mask], first_purchase[who])
        count, times = renewal_repeats(*args) if rhythmic else poisson_repeats(*args, clock)
        made[mask] = count
        owners.append(np.repeat(who, count))
        weeks.append(times)
    dropped = np.zeros(len(first_purchase), dtype=bool)
    dropped[buyers] = repeats_alive <= made
    owner, week = np.concatenate(owners), np.concatenate(weeks)
    order = np.lexsort((week, owner))
    return one_per_day(Purchases(owner=owner[order], week=week[order], dropped=dropped))


def one_per_day(purchases: Purchases) -> Purchases:
    """Move a purchase on the same UTC day as the customer's previous one to the next free day.

    Day-level analyses (the usual "distinct purchase days") then count every purchase. Purchases
    moved past today are dropped; a customer whose last purchase went that way did not drop out
    inside the window.
    """
    owner, week = purchases.owner, purchases.week
    day = np.floor(week * 7).astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
    rank = np.arange(len(owner)) - np.repeat(starts, np.diff(np.append(starts, len(owner))))
    offset = owner * (len(owner) + int(WINDOW_WEEKS * 7) + 2)  # keeps customers apart
    free = np.maximum.accumulate(day - rank + offset) - offset + rank
    moved = week + (free - day) / 7.0
    inside = moved < WINDOW_WEEKS
    dropped = purchases.dropped.copy()
    dropped[owner[~inside]] = False
    return Purchases(owner=owner[inside], week=moved[inside], dropped=dropped)


def purchase_values(
    rng: np.random.Generator, traits: Traits, owner: np.ndarray, gg: GammaGamma
) -> np.ndarray:
    """The value of each purchase in cents (at least one euro)."""
    euros = rng.gamma(gg.p, 1.0 / traits.nu[owner]) * traits.spend_factor[owner]
    return np.maximum(np.rint(euros * 100), 100).astype(np.int64)


def expected_repeats(traits: Traits, first_purchase: np.ndarray) -> np.ndarray:
    """E[repeat purchases in the window | λ, p] = (1 - exp(-λ p T)) / p (Fader et al. 2005)."""
    span = WINDOW_WEEKS - first_purchase
    return -np.expm1(-traits.rate * traits.dropout * span) / traits.dropout


def parameters(bgnbd: BgNbd, gg: GammaGamma) -> dict[str, object]:
    """The population parameters and window as JSON for ``demo_runs.parameters``."""
    return {
        "time_unit": "week",
        "observation_start": str(OBSERVATION_START) + "Z",
        "observation_end": str(OBSERVATION_END) + "Z",
        "bgnbd": asdict(bgnbd),
        "gamma_gamma": asdict(gg),
        "seasonality": {
            str(month): round(factor, 6)
            for month, factor in enumerate(season_weights().tolist(), start=1)
        },
        "regular_interval_shape": REGULAR_SHAPE,
        "model": __doc__,
    }
