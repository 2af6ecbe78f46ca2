"""Holdout assignment: stable across processes, unbiased, independent, and vector == scalar."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from patron.engage.holdout import (
    InvalidHoldout,
    campaign_group,
    campaign_groups,
    control_group_mask,
    in_control_group,
)

N = 200_000
IDS = np.arange(1, N + 1)


def reference_draws(salt: str, customer_id: int) -> tuple[float, float]:
    """The documented draw, written out again from hashlib alone."""
    digest = hashlib.blake2b(f"{salt}:{customer_id}".encode(), digest_size=16).digest()
    first = int.from_bytes(digest[:8], "big") >> 11
    second = int.from_bytes(digest[8:], "big") >> 11
    return first / 2**53, second / 2**53


def within_binomial(count: int, n: int, p: float) -> bool:
    low, high = stats.binom.interval(0.999, n, p)
    return bool(low <= count <= high)


@pytest.fixture(scope="module")
def control() -> np.ndarray:
    return control_group_mask(IDS)


@pytest.fixture(scope="module")
def campaign() -> np.ndarray:
    return campaign_groups(
        IDS, campaign_key="spring-2025", holdout_share=0.10, variants=("A", "B", "C")
    )


# --- stability -------------------------------------------------------------------------------


def test_control_group_matches_the_documented_hash() -> None:
    for customer_id in [*range(1, 300), 0, -7, 10**12]:
        first, _ = reference_draws("patron-global-control", customer_id)
        assert in_control_group(customer_id) == (first < 0.05)
        assert in_control_group(customer_id, share=0.3, salt="other") == (
            reference_draws("other", customer_id)[0] < 0.3
        )


def test_control_group_members_are_pinned() -> None:
    # Computed once with reference_draws; a change here moves real customers between groups.
    assert [i for i in range(1, 200) if in_control_group(i)] == [
        17, 34, 53, 58, 77, 141, 159, 163, 166, 193, 194,
    ]  # fmt: skip


def test_campaign_group_matches_the_documented_hash() -> None:
    for customer_id in range(1, 300):
        first, second = reference_draws("spring-2025", customer_id)
        expected = "holdout" if first < 0.2 else ("A" if second < 0.5 else "B")
        assert (
            campaign_group(
                customer_id, campaign_key="spring-2025", holdout_share=0.2, variants=("A", "B")
            )
            == expected
        )


def test_campaign_groups_are_pinned() -> None:
    got = [
        campaign_group(i, campaign_key="spring-2025", holdout_share=0.2, variants=("A", "B"))
        for i in range(1, 13)
    ]
    assert got == ["B", "A", "holdout", "A", "A", "A", "A", "B", "B", "A", "A", "A"]


def test_same_answer_in_another_process_with_another_hash_seed() -> None:
    code = (
        "from patron.engage.holdout import in_control_group, campaign_group\n"
        "print([i for i in range(1, 2000) if in_control_group(i)])\n"
        "print([campaign_group(i, campaign_key='k', holdout_share=0.3, variants=('A', 'B'))"
        " for i in range(1, 50)])\n"
    )
    here = [
        str([i for i in range(1, 2000) if in_control_group(i)]),
        str(
            [
                campaign_group(i, campaign_key="k", holdout_share=0.3, variants=("A", "B"))
                for i in range(1, 50)
            ]
        ),
    ]
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert out.stdout.splitlines() == here


# --- unbiasedness and independence ----------------------------------------------------------


def test_control_share_is_unbiased(control: np.ndarray) -> None:
    assert within_binomial(int(control.sum()), N, 0.05)


def test_campaign_holdout_share_is_unbiased(campaign: np.ndarray) -> None:
    assert within_binomial(int((campaign == "holdout").sum()), N, 0.10)


def test_campaign_holdout_is_independent_of_the_control_group(
    control: np.ndarray, campaign: np.ndarray
) -> None:
    held = campaign == "holdout"
    for part in (control, ~control):
        assert within_binomial(int(held[part].sum()), int(part.sum()), 0.10)
    table = [[np.sum(held & c), np.sum(~held & c)] for c in (control, ~control)]
    assert stats.chi2_contingency(table).pvalue > 0.001


@pytest.mark.parametrize(
    "split",
    [IDS % 2 == 0, IDS <= N // 2, IDS % 10 == 0, (IDS // 1000) % 2 == 0],
    ids=["parity", "first half", "every tenth", "blocks of 1000"],
)
def test_no_relation_to_id_patterns(
    split: np.ndarray, control: np.ndarray, campaign: np.ndarray
) -> None:
    for member in (control, campaign == "holdout", campaign == "A"):
        table = [[np.sum(member & s), np.sum(~member & s)] for s in (split, ~split)]
        assert stats.chi2_contingency(table).pvalue > 0.001


def test_variants_are_balanced(campaign: np.ndarray) -> None:
    counts = [int(np.sum(campaign == v)) for v in ("A", "B", "C")]
    assert stats.chisquare(counts).pvalue > 0.001


def test_weights_split_the_treated_in_proportion() -> None:
    groups = campaign_groups(
        IDS[:60_000], campaign_key="w", holdout_share=0.0, variants=("A", "B"), weights=(3, 1)
    )
    counts = [int(np.sum(groups == "A")), int(np.sum(groups == "B"))]
    assert stats.chisquare(counts, f_exp=[45_000, 15_000]).pvalue > 0.001


def test_campaigns_are_independent_of_each_other(campaign: np.ndarray) -> None:
    other = campaign_groups(IDS, campaign_key="summer-2025", holdout_share=0.10) == "holdout"
    held = campaign == "holdout"
    table = [[np.sum(held & o), np.sum(~held & o)] for o in (other, ~other)]
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_raising_a_share_only_adds_customers_and_keeps_variants() -> None:
    ids = IDS[:20_000]
    small = campaign_groups(ids, campaign_key="k", holdout_share=0.1, variants=("A", "B"))
    large = campaign_groups(ids, campaign_key="k", holdout_share=0.3, variants=("A", "B"))
    assert np.all(large[small == "holdout"] == "holdout")
    treated_in_both = large != "holdout"
    assert np.array_equal(small[treated_in_both], large[treated_in_both])
    assert np.all(control_group_mask(ids, share=0.2)[control_group_mask(ids, share=0.05)])


def test_zero_share_holds_nobody_out() -> None:
    assert not control_group_mask(IDS[:10_000], share=0).any()
    assert "holdout" not in campaign_groups(IDS[:10_000], campaign_key="k", holdout_share=0)


# --- vector == scalar --------------------------------------------------------------------------

ids_strategy = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50)
share_strategy = st.floats(0, 1, exclude_max=True)


@given(ids=ids_strategy, share=share_strategy, salt=st.text(max_size=20))
def test_control_mask_equals_scalar(ids: list[int], share: float, salt: str) -> None:
    mask = control_group_mask(np.array(ids, dtype=np.int64), share=share, salt=salt)
    assert mask.tolist() == [in_control_group(i, share=share, salt=salt) for i in ids]


@given(
    ids=ids_strategy,
    share=share_strategy,
    key=st.text(min_size=1, max_size=20).filter(str.strip),
    variants=st.lists(
        st.text(min_size=1, max_size=5).filter(lambda v: v.strip() and v != "holdout"),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    data=st.data(),
)
def test_campaign_groups_equal_scalar(
    ids: list[int], share: float, key: str, variants: list[str], data: st.DataObject
) -> None:
    weights = data.draw(
        st.none() | st.lists(st.floats(1e-3, 1e3), min_size=len(variants), max_size=len(variants))
    )
    kwargs = {"campaign_key": key, "holdout_share": share, "variants": variants, "weights": weights}
    vector = campaign_groups(np.array(ids, dtype=np.int64), **kwargs)
    assert vector.tolist() == [campaign_group(i, **kwargs) for i in ids]


def test_unsigned_and_python_ints_agree() -> None:
    ids = [0, 1, 2**40, 2**63 - 1]
    expected = [in_control_group(i, share=0.5) for i in ids]
    assert control_group_mask(np.array(ids, dtype=np.uint64), share=0.5).tolist() == expected
    assert control_group_mask(ids, share=0.5).tolist() == expected
    assert in_control_group(np.int64(17)) == in_control_group(17)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [-0.01, 1.0, 1.5, float("nan"), True, "0.1"])
def test_bad_shares_are_refused(share: object) -> None:
    with pytest.raises(InvalidHoldout) as raised:
        in_control_group(1, share=share)  # type: ignore[arg-type]
    assert raised.value.code == "engage.bad_holdout"
    with pytest.raises(InvalidHoldout):
        campaign_groups([1], campaign_key="k", holdout_share=share)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variants", "weights"),
    [
        ((), None),
        (("A", "A"), None),
        (("A", "holdout"), None),
        (("A", ""), None),
        ("AB", None),
        (("A", "B"), (1,)),
        (("A", "B"), (1, 0)),
        (("A", "B"), (1, float("inf"))),
    ],
)
def test_bad_variants_are_refused(variants: tuple[str, ...], weights: object) -> None:
    with pytest.raises(InvalidHoldout) as raised:
        campaign_group(
            1,
            campaign_key="k",
            holdout_share=0.1,
            variants=variants,
            weights=weights,  # type: ignore[arg-type]
        )
    assert raised.value.code == "engage.bad_holdout"


@pytest.mark.parametrize("key", ["", "  ", "patron-global-control"])
def test_bad_campaign_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidHoldout):
        campaign_group(1, campaign_key=key, holdout_share=0.1)


@pytest.mark.parametrize("customer_id", [True, 1.0, "1"])
def test_ids_must_be_integers(customer_id: object) -> None:
    with pytest.raises(InvalidHoldout):
        in_control_group(customer_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidHoldout):
        control_group_mask([customer_id])
