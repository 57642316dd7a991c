"""Pure rules of the journey engine: experiment split, send window, API input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memberflow.journeys.engine import seconds_until_window
from memberflow.journeys.entry import EntryError, parse_api_request
from memberflow.journeys.experiments import assign_arm, assign_variant
from memberflow.store import Member

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_holdout_is_deterministic_and_close_to_its_share():
    ids = [f"m{i}" for i in range(20_000)]
    arms = [assign_arm(m, "winback", "v1", 10) for m in ids]
    assert arms == [assign_arm(m, "winback", "v1", 10) for m in ids]  # stable
    assert 0.09 < arms.count("control") / len(ids) < 0.11
    other_key = [assign_arm(m, "winback", "v2", 10) for m in ids]
    assert other_key != arms  # a new experiment key re-draws
    variants = [assign_variant(m, "winback", "v1", 2) for m in ids]
    assert 0.48 < variants.count(0) / len(ids) < 0.52


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Shanghai", 0), ("America/Los_Angeles", 9 * 3600), ("Europe/London", 3600)],
)
def test_send_window_in_the_members_zone(zone, expected):
    pinned = {"messaging": {"send_window": {"start": "09:00", "end": "21:00"}}, "timezone": "UTC"}
    member = Member(member_id="m", timezone=zone)
    assert seconds_until_window(member, pinned, NOW) == expected


def test_api_input_errors_name_the_field():
    with pytest.raises(EntryError) as error:
        parse_api_request("nope", {"member_ids": ["a"]})
    assert (error.value.status, error.value.field) == (404, "path:journey")
    with pytest.raises(EntryError) as error:
        parse_api_request("winback", {"member_ids": "a"})
    assert (error.value.status, error.value.field) == (400, "member_ids")


def test_api_cohort_is_named_by_the_clients_key_or_the_requests_content_never_the_clock():
    request = parse_api_request("winback", {"member_ids": ["a", "b"]})
    assert request.cohort_id.startswith("api-winback-c") and "2026" not in request.cohort_id
    same = parse_api_request("winback", {"member_ids": ["b", "a", "b"]})
    assert (same.cohort_id, same.digest) == (request.cohort_id, request.digest)
    assert same.member_ids == ["b", "a"]
    assert parse_api_request("winback", {"member_ids": ["a"]}).cohort_id != request.cohort_id
    assert parse_api_request("activation", {"member_ids": ["a", "b"]}).digest != request.digest
    keyed = parse_api_request("winback", {"member_ids": ["a"]}, "crm-7")
    assert keyed.cohort_id == "api-winback-crm-7"
    body_key = parse_api_request("winback", {"member_ids": ["a"], "cohort_key": "crm-7"})
    assert body_key.cohort_id == keyed.cohort_id and body_key.digest == keyed.digest
