"""SLA policies: the most specific policy wins, A-customers are served faster, deadlines and
warnings in working hours, and a YAML file is refused naming the policy and field at fault."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patron.care.cases import sla
from patron.care.cases.calendar import ServiceCalendar
from patron.care.cases.sla import DEFAULT_POLICIES, Policy, deadlines, policy_for, warning_due
from patron.errors import ConfigError

# 2026-06-16 is a Tuesday, 2026-06-19 a Friday
OFFICE = ServiceCalendar.from_settings("mon-fri 08:00-17:00", "", "", "UTC")

EVERYTHING = Policy("everything", 10, 50)
URGENT = Policy("urgent", 2, 10, priority="urgent")
CLASS_A = Policy("class A", 5, 25, customer_class="A")
URGENT_A = Policy("urgent A", 1, 5, priority="urgent", customer_class="A")
MIXED = (EVERYTHING, URGENT_A, CLASS_A, URGENT)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


# -- choosing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "customer_class", "expected"),
    [
        ("urgent", "A", URGENT_A),  # class and priority
        ("urgent", "B", URGENT),  # priority beats class …
        ("urgent", None, URGENT),
        ("normal", "A", CLASS_A),  # … class beats the catch-all
        ("normal", "C", EVERYTHING),
        ("low", None, EVERYTHING),
    ],
)
def test_the_most_specific_policy_wins(
    priority: str, customer_class: str | None, expected: Policy
) -> None:
    assert policy_for(MIXED, priority, customer_class) is expected
    assert policy_for(reversed(MIXED), priority, customer_class) is expected


def test_priority_beats_class_when_both_match() -> None:
    # a class-A policy and an urgent policy both match an urgent case of an A-customer
    assert policy_for((CLASS_A, URGENT), "urgent", "A") is URGENT


def test_no_matching_policy() -> None:
    with pytest.raises(ConfigError, match="no SLA policy for priority 'low'"):
        policy_for((URGENT,), "low", "B")


def test_unknown_priority_or_class() -> None:
    with pytest.raises(ValueError, match="unknown priority 'asap'"):
        policy_for(MIXED, "asap", None)
    with pytest.raises(ValueError, match="unknown customer class 'D'"):
        policy_for(MIXED, "normal", "D")


@pytest.mark.parametrize("priority", sla.PRIORITIES)
def test_a_customers_are_served_faster_by_default(priority: str) -> None:
    a = policy_for(DEFAULT_POLICIES, priority, "A")
    for other in ("B", "C", None):
        slower = policy_for(DEFAULT_POLICIES, priority, other)
        assert a.first_response < slower.first_response
        assert a.resolution < slower.resolution


def test_default_targets_shrink_with_priority() -> None:
    for customer_class in ("A", "B", "C", None):
        chosen = [policy_for(DEFAULT_POLICIES, p, customer_class) for p in sla.PRIORITIES]
        firsts = [policy.first_response for policy in chosen]
        resolutions = [policy.resolution for policy in chosen]
        assert firsts == sorted(firsts, reverse=True)
        assert resolutions == sorted(resolutions, reverse=True)
        assert all(p.first_response <= p.resolution for p in chosen)


def test_the_defaults_pass_their_own_checks() -> None:
    sla.check_policies(DEFAULT_POLICIES)
    assert all(len(policy.name) <= sla.NAME_LENGTH for policy in DEFAULT_POLICIES)


def test_the_default_normal_case() -> None:
    # the documented numbers: normal 8 h / 40 h, A-customers half of it
    normal = policy_for(DEFAULT_POLICIES, "normal", "B")
    assert (normal.first_response, normal.resolution) == (8, 40)
    normal_a = policy_for(DEFAULT_POLICIES, "normal", "A")
    assert (normal_a.first_response, normal_a.resolution) == (4, 20)


# -- deadlines and warnings ---------------------------------------------------------------------


def test_deadlines_count_working_hours() -> None:
    policy = Policy("p", first_response=4, resolution=16)
    # opened Friday 15:00: 2 h on Friday, first response due Monday 10:00;
    # resolution: 2 h Friday + 9 h Monday + 5 h Tuesday → Tuesday 13:00
    due = deadlines(OFFICE, policy, utc(2026, 6, 19, 15))
    assert due == (utc(2026, 6, 22, 10), utc(2026, 6, 23, 13))
    assert due.first_response == utc(2026, 6, 22, 10)
    assert due.resolution == utc(2026, 6, 23, 13)


def test_a_case_opened_at_night_starts_counting_in_the_morning() -> None:
    policy = Policy("p", first_response=0.5, resolution=1)
    due = deadlines(OFFICE, policy, utc(2026, 6, 16, 22))
    assert due == (utc(2026, 6, 17, 8, 30), utc(2026, 6, 17, 9))


def test_warning_before_the_deadline() -> None:
    # due Monday 10:00, warned 2 working hours before: Monday's opening at 08:00
    assert warning_due(OFFICE, utc(2026, 6, 22, 10), 2) == utc(2026, 6, 22, 8)
    # 3 h before: one hour into Friday afternoon's last hour
    assert warning_due(OFFICE, utc(2026, 6, 22, 10), 3) == utc(2026, 6, 19, 16)
    assert warning_due(OFFICE, utc(2026, 6, 16, 15), 0) == utc(2026, 6, 16, 15)


# -- reading YAML -------------------------------------------------------------------------------

GOOD = yaml_text(
    """
    policies:
      - name: key-account urgent
        priority: urgent
        class: A
        first_response: 0.5
        resolution: 4
      - name: urgent
        priority: urgent
        first_response: 1
        resolution: 8
      - name: key accounts
        class: a
        first_response: 4
        resolution: 20
      - name: default
        first_response: 8
        resolution: 40
    """
)


def test_read_policies() -> None:
    policies = sla.read_policies(GOOD, source="sla.yaml")
    assert policies[0] == Policy("key-account urgent", 0.5, 4.0, "urgent", "A")
    assert policies[2] == Policy("key accounts", 4.0, 20.0, None, "A")
    assert policy_for(policies, "urgent", "A").name == "key-account urgent"
    assert policy_for(policies, "urgent", "C").name == "urgent"
    assert policy_for(policies, "high", "A").name == "key accounts"
    assert policy_for(policies, "high", None).name == "default"


def test_load_policies_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert sla.load_policies(path) == sla.read_policies(GOOD)
    assert sla.load_policies(str(path))[3].name == "default"


def test_no_file_means_the_built_in_policies() -> None:
    assert sla.load_policies(None) == DEFAULT_POLICIES
    assert sla.load_policies("") == DEFAULT_POLICIES


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match=r"PATRON_CARE_SLA_FILE: cannot read .*nowhere\.yaml"):
        sla.load_policies(missing)


ENTRY_ONE = "  - name: default\n    first_response: 8\n    resolution: 40\n"


@pytest.mark.parametrize(
    ("second", "field", "problem"),
    [
        ("priority: asap", "priority", "unknown priority 'asap'"),
        ("class: D", "class", "unknown class 'D'"),
        ("first_response: -1", "first_response", "-1 is negative"),
        ("resolution: -2", "resolution", "-2 is negative"),
        ("first_response: soon", "first_response", "'soon' is no number"),
        ("first_response: true", "first_response", "True is no number"),
        ("deadline: 3", "deadline", "unknown key"),
        ("first_response: 50", "resolution", "4 is less than first_response 50"),
    ],
)
def test_a_bad_entry_is_named_with_its_number_and_field(
    second: str, field: str, problem: str
) -> None:
    entry = {"name": "second", "priority": "urgent", "first_response": 1, "resolution": 4}
    key = second.split(":")[0]
    lines = [f"{k}: {v}" for k, v in entry.items() if k != key] + [second]
    text = "policies:\n" + ENTRY_ONE + "  - " + "\n    ".join(lines) + "\n"
    with pytest.raises(ConfigError) as caught:
        sla.read_policies(text, source="sla.yaml")
    message = caught.value.message
    assert message.startswith("PATRON_CARE_SLA_FILE sla.yaml: policy 2, ")
    assert f"field '{field}'" in message
    assert problem in message
    assert caught.value.details == {
        "setting": "PATRON_CARE_SLA_FILE",
        "file": "sla.yaml",
        "entry": 2,
        "field": field,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("policies: [", "not valid YAML"),
        ("- name: x", "one key, 'policies'"),
        ("policies: []", "non-empty list"),
        ("policies:\n  - just text", "policy 1: must be a mapping"),
        ("policies:\n  - first_response: 1\n    resolution: 2", "policy 1, field 'name'"),
        (
            "policies:\n" + ENTRY_ONE + "  - name: default\n    priority: low\n"
            "    first_response: 1\n    resolution: 2",
            "policy 2, field 'name': 'default' is already the name of policy 1",
        ),
        (
            "policies:\n" + ENTRY_ONE + "  - name: again\n    first_response: 1\n    resolution: 2",
            "policy 2: matches the same cases as policy 1",
        ),
        (
            "policies:\n  - name: urgent only\n    priority: urgent\n"
            "    first_response: 1\n    resolution: 2",
            "no policy for priority 'low'",
        ),
        (
            "policies:\n  - name: A only\n    class: A\n    first_response: 1\n    resolution: 2",
            "no policy for priority 'low' and class B",
        ),
    ],
)
def test_bad_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sla.read_policies(text, source="sla.yaml")
    assert caught.value.message.startswith("PATRON_CARE_SLA_FILE sla.yaml:")
    assert problem in caught.value.message
