"""Journey entry triggers, read from the programme (``journeys.<id>.entry``).

Every journey is an entry of the configuration; what enrols its members is its trigger.
The code that notices a member's change (the sign-up, the daily sweep, a paid order that
raises the tier) asks here which journeys the programme declares for it, and starts
those: no journey is named in code. Plain Python on the configuration, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from memberflow.config.programme import Programme

SIGNUP = "signup"
STAGE_ENTERED = "stage_entered"
NOT_ACTIVATED = "not_activated"
TIER_ENTERED = "tier_entered"
POINTS_EXPIRING = "points_expiring"
DATE = "date"
SEGMENT = "segment"
API = "api"
# Shorthands the schema keeps accepting: {"trigger": "at_risk"} is a stage entered.
_STAGE_SHORTHANDS = ("at_risk", "lapsed")


@dataclass(frozen=True)
class Trigger:
    kind: str
    stage: str | None = None  # stage_entered
    tier: str | None = None  # tier_entered: this tier (None: any higher tier)
    days_after_join: int = 7  # not_activated
    days_before: int = 0  # points_expiring, date
    attribute: str | None = None  # date: the member's date attribute (joined_at, birthday)
    stages: tuple[str, ...] = ()  # segment: any of these stages (empty: any)
    tiers: tuple[str, ...] = ()  # segment: any of these tiers (empty: any)
    min_rfm: tuple[int, int, int] = (0, 0, 0)  # segment: lowest recency, frequency, monetary


def trigger_of(journey_config: dict) -> Trigger:
    entry = journey_config.get("entry") or {}
    kind = entry.get("trigger", API)
    if kind in _STAGE_SHORTHANDS:
        return Trigger(STAGE_ENTERED, stage=kind)
    return Trigger(
        kind,
        stage=entry.get("stage"),
        tier=entry.get("tier"),
        days_after_join=int(entry.get("days_after_join", 7)),
        days_before=int(entry.get("days_before", 0)),
        attribute=entry.get("attribute"),
        stages=tuple(entry.get("stages", ())),
        tiers=tuple(entry.get("tiers", ())),
        min_rfm=tuple(
            int((entry.get("min_rfm") or {}).get(score, 0))
            for score in ("recency", "frequency", "monetary")
        ),
    )


# Parsed once per programme object (read on every member write): id -> (programme, by kind).
_parsed: dict[int, tuple[Programme, dict[str, list[tuple[str, Trigger]]]]] = {}


def journeys_triggered(programme: Programme, kind: str) -> list[tuple[str, Trigger]]:
    """The enabled journeys entered by ``kind``, by id (a stable order for hand-offs)."""
    cached = _parsed.get(id(programme))
    if cached is None or cached[0] is not programme:
        by_kind: dict[str, list[tuple[str, Trigger]]] = {}
        for journey, config in sorted(programme.section("journeys").items()):
            trigger = trigger_of(config)
            if config["enabled"]:
                by_kind.setdefault(trigger.kind, []).append((journey, trigger))
        if len(_parsed) > 16:  # programmes are few (one per configuration version read)
            _parsed.clear()
        cached = _parsed[id(programme)] = (programme, by_kind)
    return cached[1].get(kind, [])


def on_stage_entered(programme: Programme, stage: str) -> list[str]:
    return [j for j, t in journeys_triggered(programme, STAGE_ENTERED) if t.stage == stage]


def on_tier_entered(programme: Programme, old_rank: int, new_rank: int, new_tier: str) -> list[str]:
    """Journeys a tier upgrade (``old_rank`` -> ``new_rank`` on the ladder) enters: those
    naming the tier reached, and those naming none (any upgrade)."""
    if new_rank <= old_rank:
        return []
    return [
        j
        for j, t in journeys_triggered(programme, TIER_ENTERED)
        if t.tier is None or t.tier == new_tier
    ]


def in_segment(trigger: Trigger, stage: str | None, tier: str | None, rfm: str | None) -> bool:
    """Whether a member (its stage, tier and RFM score such as ``"535"``) is in a segment
    journey's segment."""
    if trigger.stages and stage not in trigger.stages:
        return False
    if trigger.tiers and tier not in trigger.tiers:
        return False
    if any(trigger.min_rfm):
        if not rfm or len(rfm) != 3 or not rfm.isdigit():
            return False
        return all(int(score) >= least for score, least in zip(rfm, trigger.min_rfm, strict=True))
    return True
