"""Which alerts to send now: one alert when a complaint spike starts, follow-ups when it
escalates, when an incident first explains it and when it is over, never a storm.

Pure: the current spikes (with their best incident link) and what was already sent go in, the
alerts to send come out. The caller renders, delivers and records them (pipelines/alerts).

Rules, per spike:
- `new`: the first alert of a spike, unless its last active minute is older than `max_age`
  when it is first seen (a backfill, an old demo file): those never alert.
- `escalated`: the peak / expected ratio reached a higher rung of the ladder than at the last
  alert, or complaints grew `complaint_growth` times since the last alert.
- `explained`: an incident is linked for the first time (own status page or upstream).
- `recovered`: complaints are back to expected (the detector closed the spike).
A spike gets at most one alert a run (it carries every current fact, so an explained alert that
also grew records the new rung), at most one alert of each kind and level, and follow-ups at
least `min_interval` apart. A run sends at most `max_per_run` alerts; the rest are summarised
in one digest and count as sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

NEW, ESCALATED, EXPLAINED, RECOVERED = "new", "escalated", "explained", "recovered"
DIGEST = "digest"
# Follow-ups first (people already follow those spikes), then new spikes.
_KIND_ORDER = {RECOVERED: 0, EXPLAINED: 1, ESCALATED: 2, NEW: 3}


@dataclass(frozen=True)
class AlertRules:
    thresholds: tuple[float, ...] = (3.0, 10.0, 30.0)  # peak / expected rungs that escalate
    complaint_growth: float = 2.0    # complaints this many times the last alert's: escalate
    min_interval: timedelta = timedelta(minutes=15)   # between alerts of one spike
    max_per_run: int = 10            # individual alerts a run; the rest go in one digest
    max_age: timedelta = timedelta(hours=2)  # spikes inactive longer when first seen: silent
    per_type: bool = False           # also alert spikes of one complaint type
    min_expected: float = 0.1        # expected rate floor (per minute) for the ratio
    cooldown_minutes: int = 15       # quiet minutes after which the detector closes a spike


@dataclass(frozen=True)
class IncidentLink:
    """The incident that best explains a spike (highest confidence)."""

    provider: str
    incident_id: str
    relation: str                    # own | upstream
    confidence: float
    lead_minutes: float              # incident start minus spike start; > 0: social first
    title: str | None = None
    url: str | None = None
    impact: str | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.incident_id}"


@dataclass(frozen=True)
class SpikeState:
    """A spike as the detector sees it now."""

    spike_id: str
    service: str
    complaint_type: str | None       # None: all complaints of the service
    start: datetime
    peak: datetime
    end: datetime                    # last minute above expected so far
    peak_rate: float                 # complaints per minute at the peak
    expected_rate: float             # expected complaints per minute at the peak
    complaints: int
    ended: bool                      # complaints back to expected (see `spike_ended`)
    link: IncidentLink | None = None

    @property
    def ratio(self) -> float:
        return ratio(self.peak_rate, self.expected_rate)


@dataclass(frozen=True)
class SentAlert:
    """An alert decided in an earlier run (whatever its channels' delivery outcome)."""

    spike_id: str
    kind: str
    level: int
    rung: int
    complaints: int
    incident: str | None             # provider:incident_id the alert named
    decided_at: datetime


@dataclass(frozen=True)
class Alert:
    spike: SpikeState
    kind: str
    level: int                       # 0, or the escalation's sequence number (1, 2, ...)
    rung: int                        # thresholds reached: 0 under the first
    reason: str                      # why now, in words

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.spike.spike_id, self.kind, self.level)


@dataclass(frozen=True)
class AlertPlan:
    send: list[Alert] = field(default_factory=list)      # one message each
    digest: list[Alert] = field(default_factory=list)    # summarised in one message
    too_old: list[str] = field(default_factory=list)     # spike ids silenced by age
    waiting: list[Alert] = field(default_factory=list)   # due, held by the minimum interval


def ratio(peak_rate: float, expected_rate: float, min_expected: float = 0.1) -> float:
    return peak_rate / max(expected_rate, min_expected)


def rung(value: float, thresholds: Sequence[float]) -> int:
    """How many thresholds of the ladder `value` reached (0: under the first)."""
    if math.isnan(value):
        return 0
    return sum(1 for t in sorted(thresholds) if value >= t)


def spike_ended(end: datetime, horizon: datetime | None, cooldown_minutes: int) -> bool:
    """The detector closes a spike after `cooldown_minutes` quiet minutes; a spike whose last
    active minute is that far behind the newest data is over, otherwise it may still grow."""
    return horizon is not None and horizon - end >= timedelta(minutes=cooldown_minutes)


@dataclass
class _History:
    level: int = 0
    rung: int = 0
    complaints: int = 0
    incident: str | None = None
    recovered: bool = False
    last: datetime | None = None
    sent: set[tuple[str, int]] = field(default_factory=set)


def _histories(sent: Iterable[SentAlert]) -> dict[str, _History]:
    out: dict[str, _History] = {}
    for s in sorted(sent, key=lambda s: s.decided_at):
        h = out.setdefault(s.spike_id, _History())
        h.level = max(h.level, s.level)
        h.rung, h.complaints, h.last = max(h.rung, s.rung), s.complaints, s.decided_at
        h.incident = h.incident or s.incident
        h.recovered |= s.kind == RECOVERED
        h.sent.add((s.kind, s.level))
    return out


def _due(spike: SpikeState, h: _History, now_rung: int, rules: AlertRules
         ) -> tuple[str, int, str] | None:
    """The follow-up a spike with history `h` is due for, if any: (kind, level, reason)."""
    if spike.ended:
        if h.recovered:
            return None
        return RECOVERED, 0, "complaints are back to expected"
    if spike.link is not None and h.incident is None:
        return EXPLAINED, 0, f"linked to {spike.link.relation} incident {spike.link.key}"
    if now_rung > h.rung:
        reached = sorted(rules.thresholds)[now_rung - 1]
        return ESCALATED, h.level + 1, f"peak reached {reached:g}x expected"
    if h.complaints > 0 and spike.complaints >= rules.complaint_growth * h.complaints:
        return (ESCALATED, h.level + 1,
                f"complaints grew from {h.complaints} to {spike.complaints}")
    return None


def decide_alerts(spikes: Iterable[SpikeState], sent: Iterable[SentAlert], now: datetime,
                  rules: AlertRules = AlertRules()) -> AlertPlan:
    """The alerts to send now (see the module doc)."""
    histories = _histories(sent)
    plan = AlertPlan()
    due: list[Alert] = []
    for spike in spikes:
        if spike.complaint_type is not None and not rules.per_type:
            continue
        now_rung = rung(ratio(spike.peak_rate, spike.expected_rate, rules.min_expected),
                        rules.thresholds)
        h = histories.get(spike.spike_id)
        if h is None:
            if now - spike.end > rules.max_age:
                plan.too_old.append(spike.spike_id)
                continue
            due.append(Alert(spike, NEW, 0, now_rung, "complaint spike started"))
            continue
        follow_up = _due(spike, h, now_rung, rules)
        if follow_up is None or follow_up[:2] in h.sent:
            continue
        kind, level, reason = follow_up
        alert = Alert(spike, kind, level, max(now_rung, h.rung), reason)
        if h.last is not None and now - h.last < rules.min_interval:
            plan.waiting.append(alert)
            continue
        due.append(alert)
    due.sort(key=lambda a: (_KIND_ORDER[a.kind], -a.spike.ratio, a.spike.spike_id))
    cap = max(rules.max_per_run, 0)
    plan.send.extend(due[:cap])
    plan.digest.extend(due[cap:])
    return plan
