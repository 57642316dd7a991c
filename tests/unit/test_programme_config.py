"""The programme configuration: defaults of domain.md, refusals that name the field."""

import copy
import json

import pytest

from memberflow.config import ConfigError, load_programme
from memberflow.config.programme import default_document, validate_document


def test_defaults_are_those_of_the_domain_rules():
    programme = load_programme()
    assert programme.stages["at_risk"]["days_without_order"] == 60
    assert programme.stages["at_risk"]["personal_gap_multiplier"] == 2
    assert programme.stages["lapsed"]["days_without_order"] == 180
    assert programme.points["bonuses"] == {
        "join": 100,
        "phone_bound": 200,
        "profile_completed": 200,
    }
    assert programme.points["redemption"]["points_per_currency_unit"] == 100
    assert programme.points["expiry_months"] == 12
    assert [(t["name"], t["threshold"]) for t in programme.tiers["ladder"]] == [
        ("base", 0),
        ("silver", 5000),
        ("gold", 10000),
        ("platinum", 20000),
        ("diamond", 50000),
    ]
    assert programme.messaging["frequency_cap"] == {"max_messages": 3, "per_days": 7}
    assert programme.messaging["send_window"] == {"start": "09:00", "end": "21:00"}
    assert [s["wait_days"] for s in programme.journey("activation")["steps"]] == [0, 7, 7]
    assert programme.journey("winback")["on_no_conversion"] == {"stage": "churned"}


def _broken(mutate):
    doc = copy.deepcopy(default_document())
    mutate(doc)
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    return caught.value


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (
            lambda d: d["journeys"]["activation"]["steps"][0].update(channel="fax"),
            "$.journeys.activation.steps[0].channel",
            "enum",
        ),
        (
            lambda d: d["stages"]["at_risk"].update(days_without_order=0),
            "$.stages.at_risk.days_without_order",
            "minimum",
        ),
        (lambda d: d["points"].pop("expiry_months"), "$.points", "required"),
        (
            lambda d: d["messaging"]["send_window"].update(start="25:00"),
            "$.messaging.send_window.start",
            "pattern",
        ),
        (
            lambda d: d["tiers"]["ladder"][2].update(threshold=1),
            "$.tiers.ladder[2].threshold",
            "thresholds must increase",
        ),
        (lambda d: d["programme"].update(timezone="Mars/Olympus"), "$.programme.timezone", "IANA"),
        (
            lambda d: d["journeys"]["welcome"]["steps"][0].update(template="nope"),
            "$.journeys.welcome.steps[0].template",
            "not defined",
        ),
        (lambda d: d.update(surprise=1), "$", "additionalProperties"),
    ],
)
def test_an_invalid_document_is_refused_naming_the_field_and_rule(mutate, field, rule):
    error = _broken(mutate)
    assert error.field == field
    assert rule in str(error)


def test_loads_from_a_file_and_refuses_bad_json(tmp_path):
    good = tmp_path / "programme.json"
    doc = default_document()
    doc["version"] = "custom-1"
    good.write_text(json.dumps(doc))
    assert load_programme(good).version == "custom-1"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_programme(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_programme(tmp_path / "missing.json")


# ------------------------------------------------------------ journeys: an open map
def test_journeys_are_an_open_map_each_with_its_entry_trigger():
    from memberflow.config import triggers

    doc = default_document()
    doc["journeys"]["vip_offer"] = {
        **copy.deepcopy(doc["journeys"]["winback"]),
        "entry": {"trigger": "tier_entered", "tier": "gold"},
    }
    del doc["journeys"]["winback"]["on_no_conversion"]
    doc["journeys"]["winback"]["entry"] = {"trigger": "lapsed"}  # the shorthand stays
    programme = validate_document(doc)
    assert "vip_offer" in programme.journeys
    assert triggers.on_stage_entered(programme, "lapsed") == ["winback"]
    assert triggers.on_stage_entered(programme, "at_risk") == ["dormancy_recall"]
    assert triggers.on_tier_entered(programme, 0, 2, "gold") == ["tier_up_welcome", "vip_offer"]
    assert triggers.on_tier_entered(programme, 0, 1, "silver") == ["tier_up_welcome"]
    assert triggers.on_tier_entered(programme, 2, 1, "silver") == []  # a downgrade enters none
    doc["journeys"]["vip_offer"]["enabled"] = False
    assert triggers.on_tier_entered(validate_document(doc), 0, 2, "gold") == ["tier_up_welcome"]


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (
            lambda d: d["journeys"].update({"Bad-Id": d["journeys"]["welcome"]}),
            "$.journeys",
            "'Bad-Id' does not match",
        ),
        (
            lambda d: d["journeys"]["winback"].update(entry={"trigger": "stage_entered"}),
            "$.journeys.winback.entry",
            "required",
        ),
        (
            lambda d: d["journeys"]["winback"].update(
                entry={"trigger": "tier_entered", "tier": "x"}
            ),
            "$.journeys.winback.entry.tier",
            "ladder",
        ),
        (
            lambda d: d["journeys"]["winback"].update(entry={"trigger": "points_expiring"}),
            "$.journeys.winback.entry",
            "required",
        ),
    ],
)
def test_a_bad_journey_entry_is_refused_naming_the_field(mutate, field, rule):
    error = _broken(mutate)
    assert error.field == field
    assert rule in error.rule
