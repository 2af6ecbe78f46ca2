"""Who gets a measure and who is held out: the global control group and per-campaign holdouts.

Every assignment is a pure function of a salt and the customer id, so it is the same in every
process, on every machine and in every release. The draw is part of that promise and must never
change: ``blake2b(f"{salt}:{customer_id}", digest_size=16)``; each 8-byte half, read big-endian,
gives its top 53 bits divided by 2**53 — two independent uniform numbers in [0, 1) that a float
holds exactly. A customer is held out when the first is below the share, so raising a share only
adds customers, never swaps them.

The global control group (salt ``patron-global-control``) never receives marketing; callers leave
it out before a campaign is assigned. A campaign's holdout uses the campaign key as its salt and
the first number; a treated customer's variant the second, so a change of the holdout share
moves nobody from one variant to another.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt

from patron.errors import PatronError

CONTROL_SALT = "patron-global-control"
CONTROL_SHARE = 0.05
HOLDOUT = "holdout"

_BITS = 53  # a float64 holds every multiple of 2**-53 in [0, 1) exactly
_SHIFT = 64 - _BITS


class InvalidHoldout(PatronError):
    """A share, variant list or id that no assignment can be made from."""

    code = "engage.bad_holdout"
    status = 422


# --- the draw --------------------------------------------------------------------------------


def _check_id(customer_id: object) -> int:
    # bool is an int, but "True" would hash differently from 1; floats format as "1.0".
    if isinstance(customer_id, bool) or not isinstance(customer_id, Integral):
        raise InvalidHoldout(
            f"customer ids are integers, not {customer_id!r}", details={"field": "customer_id"}
        )
    return int(customer_id)


def _draw(salt: str, customer_id: int) -> tuple[float, float]:
    digest = hashlib.blake2b(f"{salt}:{customer_id}".encode(), digest_size=16).digest()
    first, second = (int.from_bytes(half, "big") >> _SHIFT for half in (digest[:8], digest[8:]))
    return first / 2**_BITS, second / 2**_BITS


def _draws(
    salt: str, customer_ids: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``_draw`` for many ids; element for element the same floats."""
    ids = _check_ids(customer_ids)
    digests = b"".join(
        hashlib.blake2b(f"{salt}:{i}".encode(), digest_size=16).digest() for i in ids
    )
    bits = np.frombuffer(digests, dtype=">u8").reshape(len(ids), 2)
    uniform = (bits >> np.uint64(_SHIFT)).astype(np.float64) * 2.0**-_BITS  # exact: below 2**53
    return uniform[:, 0], uniform[:, 1]


def _check_ids(customer_ids: npt.ArrayLike) -> list[int]:
    array = np.asarray(customer_ids)
    if array.ndim != 1:
        raise InvalidHoldout(
            "customer ids come as a flat sequence", details={"field": "customer_ids"}
        )
    if array.size and array.dtype.kind not in "iu":
        raise InvalidHoldout(
            f"customer ids are integers, not {array.dtype}", details={"field": "customer_ids"}
        )
    return [int(i) for i in array.tolist()]


# --- validation ------------------------------------------------------------------------------


def _check_share(share: float, field: str) -> float:
    if isinstance(share, bool) or not isinstance(share, Real) or not 0 <= share < 1:
        raise InvalidHoldout(
            f"{field.replace('_', ' ')} must be at least 0 and below 1, not {share!r}",
            details={"field": field},
        )
    return float(share)


def _check_campaign_key(campaign_key: str) -> str:
    if not isinstance(campaign_key, str) or not campaign_key.strip():
        raise InvalidHoldout("a campaign needs a non-empty key", details={"field": "campaign_key"})
    if campaign_key == CONTROL_SALT:
        # The same salt would make the campaign holdout the global control group again.
        raise InvalidHoldout(
            f"{CONTROL_SALT!r} is the global control group's salt, not a campaign key",
            details={"field": "campaign_key"},
        )
    return campaign_key


def _bounds(variants: Sequence[str], weights: Sequence[float] | None) -> tuple[float, ...]:
    """Upper ends of each variant's slice of [0, 1), shared by the scalar and vector paths."""
    if isinstance(variants, str):
        raise InvalidHoldout(
            f"variants are a sequence of names, not the string {variants!r}",
            details={"field": "variants"},
        )
    if not variants:
        raise InvalidHoldout("a campaign needs at least one variant", details={"field": "variants"})
    for name in variants:
        if not isinstance(name, str) or not name.strip() or name == HOLDOUT:
            raise InvalidHoldout(
                f"a variant name must be a non-empty string other than {HOLDOUT!r}, not {name!r}",
                details={"field": "variants"},
            )
    if len(set(variants)) != len(variants):
        raise InvalidHoldout(
            f"variant names must be unique: {list(variants)}", details={"field": "variants"}
        )
    if weights is None:
        weights = [1.0] * len(variants)
    if len(weights) != len(variants) or not all(
        isinstance(w, Real) and not isinstance(w, bool) and math.isfinite(w) and w > 0
        for w in weights
    ):
        raise InvalidHoldout(
            f"weights must be one positive number per variant, not {list(weights)!r}",
            details={"field": "weights"},
        )
    total = math.fsum(weights)
    bounds = [c / total for c in accumulate(float(w) for w in weights)]
    bounds[-1] = 1.0  # rounding must not leave a sliver of draws without a variant
    return tuple(bounds)


# --- the global control group ------------------------------------------------------------------


def in_control_group(
    customer_id: int, *, share: float = CONTROL_SHARE, salt: str = CONTROL_SALT
) -> bool:
    """Whether the customer is in the global control group, which never receives marketing."""
    share = _check_share(share, "share")
    return _draw(salt, _check_id(customer_id))[0] < share


def control_group_mask(
    customer_ids: npt.ArrayLike, *, share: float = CONTROL_SHARE, salt: str = CONTROL_SALT
) -> npt.NDArray[np.bool_]:
    """``in_control_group`` for many ids: True where the customer is in the control group."""
    share = _check_share(share, "share")
    return _draws(salt, customer_ids)[0] < share


# --- campaign holdout and variants --------------------------------------------------------------


def campaign_group(
    customer_id: int,
    *,
    campaign_key: str,
    holdout_share: float,
    variants: Sequence[str] = ("A",),
    weights: Sequence[float] | None = None,
) -> str:
    """``"holdout"`` or the name of the variant the customer receives in this campaign.

    Treated customers are split over ``variants`` evenly, or in proportion to ``weights``.
    """
    holdout_share = _check_share(holdout_share, "holdout_share")
    campaign_key = _check_campaign_key(campaign_key)
    bounds = _bounds(variants, weights)
    first, second = _draw(campaign_key, _check_id(customer_id))
    return HOLDOUT if first < holdout_share else variants[bisect_right(bounds, second)]


def campaign_groups(
    customer_ids: npt.ArrayLike,
    *,
    campaign_key: str,
    holdout_share: float,
    variants: Sequence[str] = ("A",),
    weights: Sequence[float] | None = None,
) -> npt.NDArray[np.object_]:
    """``campaign_group`` for many ids: an array of ``"holdout"`` or variant names (Python
    strings: a NumPy string array would drop a name's trailing NUL characters)."""
    holdout_share = _check_share(holdout_share, "holdout_share")
    campaign_key = _check_campaign_key(campaign_key)
    bounds = _bounds(variants, weights)
    first, second = _draws(campaign_key, customer_ids)
    variant = np.searchsorted(np.asarray(bounds), second, side="right")
    labels = np.asarray([*variants, HOLDOUT], dtype=object)
    return labels[np.where(first < holdout_share, len(variants), variant)]
