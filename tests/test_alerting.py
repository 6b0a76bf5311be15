"""The alert decisions (analysis.alerting) on tiny hand-made spike sequences: one alert per
spike, follow-ups on escalation, explanation and recovery, no repeats, no storms, and old
spikes silent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from analysis.alerting import (
    ESCALATED,
    EXPLAINED,
    NEW,
    RECOVERED,
    AlertPlan,
    AlertRules,
    IncidentLink,
    SentAlert,
    SpikeState,
    decide_alerts,
    rung,
    spike_ended,
)

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
RULES = AlertRules()
UPSTREAM = IncidentLink(provider="anthropic", incident_id="inc1", relation="upstream",
                        confidence=0.8, lead_minutes=12.0, title="Elevated errors")


def spike(minutes: int = 5, peak: float = 12.0, expected: float = 2.0, complaints: int = 40,
          ended: bool = False, link: IncidentLink | None = None, service: str = "notion",
          ctype: str | None = None, start: datetime = T0) -> SpikeState:
    return SpikeState(
        spike_id=f"{service}:{ctype or 'all'}:{start:%Y%m%dT%H%M}", service=service,
        complaint_type=ctype, start=start, peak=start + MIN, end=start + minutes * MIN,
        peak_rate=peak, expected_rate=expected, complaints=complaints, ended=ended, link=link)


def sent_from(plan: AlertPlan, at: datetime) -> list[SentAlert]:
    """What the alert step records for a plan: every alert sent or digested."""
    return [SentAlert(a.spike.spike_id, a.kind, a.level, a.rung, a.spike.complaints,
                      a.spike.link.key if a.spike.link else None, at)
            for a in plan.send + plan.digest]


def kinds(plan: AlertPlan) -> list[tuple[str, str, int]]:
    return [a.key for a in plan.send]


def test_a_spike_gets_new_then_escalated_explained_recovered_once_each() -> None:
    history: list[SentAlert] = []
    steps = [  # (minutes after T0, the spike as analyze sees it then, the alert expected)
        (5, spike(5, peak=8.0), (NEW, 0)),                          # 4x: rung 1
        (25, spike(25, peak=24.0, complaints=60), (ESCALATED, 1)),  # 12x: rung 2
        (45, spike(45, peak=24.0, complaints=70, link=UPSTREAM), (EXPLAINED, 0)),
        (65, spike(65, peak=24.0, complaints=75, link=UPSTREAM), None),
        (85, spike(70, peak=24.0, complaints=75, link=UPSTREAM, ended=True), (RECOVERED, 0)),
        (120, spike(70, peak=24.0, complaints=75, link=UPSTREAM, ended=True), None),
    ]
    for minutes, state, expected in steps:
        now = T0 + minutes * MIN
        plan = decide_alerts([state], history, now)
        assert kinds(plan) == ([] if expected is None else [(state.spike_id, *expected)]), minutes
        # Deciding again in the same run (a re-run before anything changed) repeats nothing.
        history += sent_from(plan, now)
        assert decide_alerts([state], history, now).send == []
    explained = [s for s in history if s.kind == EXPLAINED]
    assert explained[0].incident == "anthropic:inc1"


def test_escalation_on_the_next_rung_and_on_doubled_complaints() -> None:
    first = decide_alerts([spike(peak=8.0, complaints=40)], [], T0 + 5 * MIN)
    history = sent_from(first, T0 + 5 * MIN)
    later = T0 + 40 * MIN
    # Same rung (4x -> 9x), complaints up by half: nothing.
    assert decide_alerts([spike(40, peak=18.0, complaints=60)], history, later).send == []
    # Complaints doubled since the last alert: escalated, level 1.
    doubled = decide_alerts([spike(40, peak=18.0, complaints=80)], history, later)
    assert [(a.kind, a.level, a.rung) for a in doubled.send] == [(ESCALATED, 1, 1)]
    assert "complaints grew from 40 to 80" in doubled.send[0].reason
    history += sent_from(doubled, later)
    # Straight past two rungs (9x -> 35x): one escalation, level 2, rung 3.
    jump = decide_alerts([spike(70, peak=70.0, complaints=90)], history, later + 30 * MIN)
    assert [(a.kind, a.level, a.rung) for a in jump.send] == [(ESCALATED, 2, 3)]
    assert "30x" in jump.send[0].reason


def test_follow_ups_wait_for_the_minimum_interval() -> None:
    history = sent_from(decide_alerts([spike(peak=8.0)], [], T0 + 5 * MIN), T0 + 5 * MIN)
    grown = spike(12, peak=40.0, complaints=200)
    soon = decide_alerts([grown], history, T0 + 12 * MIN)
    assert soon.send == [] and [a.kind for a in soon.waiting] == [ESCALATED]
    assert kinds(decide_alerts([grown], history, T0 + 20 * MIN)) == [
        (grown.spike_id, ESCALATED, 1)]


def test_a_spike_first_seen_explained_says_so_in_its_first_alert_only() -> None:
    state = spike(link=UPSTREAM)
    plan = decide_alerts([state], [], T0 + 5 * MIN)
    assert kinds(plan) == [(state.spike_id, NEW, 0)] and plan.send[0].spike.link == UPSTREAM
    history = sent_from(plan, T0 + 5 * MIN)
    assert decide_alerts([spike(30, link=UPSTREAM)], history, T0 + 30 * MIN).send == []


def test_a_short_spike_seen_over_gets_new_then_recovered() -> None:
    over = spike(3, ended=True)
    plan = decide_alerts([over], [], T0 + 20 * MIN)
    assert kinds(plan) == [(over.spike_id, NEW, 0)]
    history = sent_from(plan, T0 + 20 * MIN)
    assert kinds(decide_alerts([over], history, T0 + 40 * MIN)) == [
        (over.spike_id, RECOVERED, 0)]


def test_storm_cap_sends_the_strongest_and_digests_the_rest_once() -> None:
    storm = [spike(peak=5.0 + i, service=f"svc{i:02d}") for i in range(25)]
    now = T0 + 5 * MIN
    plan = decide_alerts(storm, [], now)
    assert len(plan.send) == 10 and len(plan.digest) == 15
    # The biggest ratios go out individually.
    assert {a.spike.service for a in plan.send} == {f"svc{i:02d}" for i in range(15, 25)}
    history = sent_from(plan, now)
    assert decide_alerts(storm, history, now + 30 * MIN).send == []


def test_follow_ups_come_before_new_spikes_under_the_cap() -> None:
    known = spike(peak=8.0, service="notion")
    history = sent_from(decide_alerts([known], [], T0 + 5 * MIN), T0 + 5 * MIN)
    fresh = [spike(peak=90.0, service=f"new{i}", start=T0 + 30 * MIN) for i in range(3)]
    recovered = replace(known, ended=True)
    plan = decide_alerts([*fresh, recovered], history, T0 + 40 * MIN,
                         AlertRules(max_per_run=2))
    assert [a.kind for a in plan.send] == [RECOVERED, NEW]
    assert len(plan.digest) == 2


@pytest.mark.parametrize("inactive_minutes, alerted", [(30, True), (119, True), (121, False),
                                                       (60 * 24 * 600, False)])
def test_spikes_inactive_too_long_when_first_seen_never_alert(inactive_minutes: int,
                                                              alerted: bool) -> None:
    state = spike(10)
    plan = decide_alerts([state], [], state.end + inactive_minutes * MIN)
    assert bool(plan.send) is alerted
    assert plan.too_old == ([] if alerted else [state.spike_id])


def test_an_alerted_spike_still_recovers_after_the_age_limit() -> None:
    history = sent_from(decide_alerts([spike(peak=8.0)], [], T0 + 5 * MIN), T0 + 5 * MIN)
    late = T0 + timedelta(hours=6)
    assert [a.kind for a in decide_alerts([spike(20, ended=True)], history, late).send] == [
        RECOVERED]


def test_complaint_type_spikes_only_when_asked() -> None:
    typed = spike(ctype="outage")
    assert decide_alerts([typed], [], T0 + 5 * MIN).send == []
    assert kinds(decide_alerts([typed], [], T0 + 5 * MIN, AlertRules(per_type=True))) == [
        ("notion:outage:20260302T1400", NEW, 0)]


@pytest.mark.parametrize("value, expected", [(1.0, 0), (2.99, 0), (3.0, 1), (10.0, 2),
                                             (29.0, 2), (500.0, 3), (float("nan"), 0)])
def test_rung(value: float, expected: int) -> None:
    assert rung(value, (3.0, 10.0, 30.0)) == expected


def test_zero_expected_rate_uses_the_floor() -> None:
    plan = decide_alerts([spike(peak=5.0, expected=0.0)], [], T0 + 5 * MIN)
    assert plan.send[0].rung == 3  # 5 / 0.1 = 50x


@pytest.mark.parametrize("horizon_minutes, ended", [(None, False), (10, False), (14, False),
                                                    (15, True), (60, True)])
def test_spike_ended_once_the_data_passes_the_cooldown(horizon_minutes: int | None,
                                                       ended: bool) -> None:
    horizon = None if horizon_minutes is None else T0 + horizon_minutes * MIN
    assert spike_ended(T0, horizon, 15) is ended
