"""The comms brief: everything known about one complaint spike (and the incident behind it) in,
a brief a comms lead can send out, as Markdown and as HTML.

Content is composed once as a few plain blocks and rendered twice. Text that comes from data
(post text, status-page titles and updates, names, theme labels) is wrapped in `Data` and
escaped by both renderers, so a post holding HTML, script or Markdown shows as text and is never
rendered. Talking points are derived from the numbers in the brief, each citing one."""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analysis.themes import dedupe_key

MAX_POST_CHARS = 280
MAX_UPDATE_CHARS = 200
MIN_THEMES, MAX_THEMES = 3, 6
MAX_TALKING_POINTS = 5
# Below this expected rate (complaints/min) a ratio to "normal" means little: say "from ~0".
MIN_EXPECTED_RATE = 0.05
# An update "helped" when the complaint rate after it fell by at least this much.
HELPED_CHANGE_PCT = -10.0
# Status updates this long after both the spike and the resolution are not listed one by one.
LATE_UPDATE = timedelta(hours=2)


# -- the facts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpikeFacts:
    spike_id: str
    start: datetime
    peak: datetime
    end: datetime                  # the spike's last minute
    peak_rate: float               # complaints per minute at the peak
    expected_rate: float           # expected complaints per minute at the peak
    complaints: int

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / timedelta(minutes=1) + 1

    @property
    def ratio(self) -> float | None:
        if self.expected_rate < MIN_EXPECTED_RATE:
            return None
        return self.peak_rate / self.expected_rate


@dataclass(frozen=True)
class IncidentFacts:
    provider: str
    provider_name: str
    incident_id: str
    title: str
    impact: str | None
    started_at: datetime
    resolved_at: datetime | None
    relation: str                  # own | upstream
    confidence: float
    lead_minutes: float            # incident start minus spike start; > 0: social first


@dataclass(frozen=True)
class StatusUpdate:
    at: datetime
    status: str
    body: str


@dataclass(frozen=True)
class ResponseTimes:
    """From incident_metrics: how fast the provider reacted to what social media saw."""

    first_complaint_at: datetime | None
    first_update_at: datetime | None
    minutes_to_first_update: float | None
    minutes_to_resolution: float | None
    minutes_to_recovery: float | None
    silent: bool                   # no status update while complaints ran


@dataclass(frozen=True)
class History:
    """The service's complaint spikes in the warehouse, this one included."""

    complaints: tuple[int, ...]
    since: datetime
    until: datetime

    @property
    def median(self) -> float:
        return float(statistics.median(self.complaints)) if self.complaints else 0.0

    def rank_of(self, complaints: int) -> int:
        return 1 + sum(c > complaints for c in self.complaints)


@dataclass(frozen=True)
class Amplifier:
    author: str
    followers: int
    reposts: int


@dataclass(frozen=True)
class Reaction:
    """From spike_reaction: how far the complaints travelled."""

    posts: int
    distinct_authors: int
    reposts: int
    quotes: int
    likes: int
    reach: int
    busiest_minute: int            # most posts in one minute
    top_amplifiers: tuple[Amplifier, ...] = ()


@dataclass(frozen=True)
class ThemeFacts:
    label: str
    posts: int
    share: float                   # of the spike's complaints
    text: str                      # the representative post
    source: str
    post_id: str


@dataclass(frozen=True)
class CompetitorFacts:
    competitor: str
    mentions: int
    switching_intent: int
    baseline_mentions: int         # in the same-length window before the spike


@dataclass(frozen=True)
class SentimentPhase:
    phase: str                     # before | during | after
    start: datetime
    end: datetime                  # exclusive
    negative: int
    neutral: int
    positive: int

    @property
    def posts(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.posts if self.posts else None

    @property
    def per_minute(self) -> float:
        return self.posts / max((self.end - self.start) / timedelta(minutes=1), 1.0)


@dataclass(frozen=True)
class UpdateEffect:
    """From response_effects: the complaint rate in a window before and after an update."""

    update_at: datetime
    status: str
    window_minutes: float
    rate_before: float
    rate_after: float
    negative_share_before: float | None
    negative_share_after: float | None
    rate_change_pct: float | None
    kind: str = "status_update"    # status_update | official_post

    @property
    def what(self) -> str:
        return "official post" if self.kind == "official_post" else f"{self.status} update"


@dataclass(frozen=True)
class OtherSpike:
    service_name: str
    complaints: int


@dataclass(frozen=True)
class BriefData:
    service_name: str
    spike: SpikeFacts
    history: History
    incident: IncidentFacts | None = None
    alternatives: tuple[IncidentFacts, ...] = ()    # other incidents that overlap the spike
    updates: tuple[StatusUpdate, ...] = ()
    response: ResponseTimes | None = None
    reaction: Reaction | None = None
    complaint_mix: tuple[tuple[str, int], ...] = ()
    themes: tuple[ThemeFacts, ...] = ()
    competitors: tuple[CompetitorFacts, ...] = ()
    sentiment: tuple[SentimentPhase, ...] = ()
    update_effects: tuple[UpdateEffect, ...] = ()
    also_hit: tuple[OtherSpike, ...] = ()           # other services' spikes from the incident
    simulated: bool = False
    missing: tuple[str, ...] = field(default=())    # analyses not in the warehouse yet


# -- a tiny document model -----------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """Text from data: escaped by every renderer, whitespace collapsed."""

    text: str


@dataclass(frozen=True)
class Strong:
    parts: tuple[Piece, ...]


Piece = str | Data | Strong
Line = tuple[Piece, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    line: Line


@dataclass(frozen=True)
class Para:
    line: Line


@dataclass(frozen=True)
class Note:
    line: Line


@dataclass(frozen=True)
class Items:
    lines: tuple[Line, ...]
    numbered: bool = False


@dataclass(frozen=True)
class Quote:
    line: Line


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Line, ...], ...]
    numeric: tuple[bool, ...] = ()


Block = Heading | Para | Note | Items | Quote | Table


# -- formatting ----------------------------------------------------------------------------
def _n(value: float) -> str:
    return f"{round(value):,}"


def _rate(value: float) -> str:
    return f"{value:.1f}/min"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{round(100 * share)}%"


def _duration(minutes: float) -> str:
    minutes = round(minutes)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _clock(at: datetime) -> str:
    return f"{at:%H:%M}"


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b %Y}"


def _offset(at: datetime, origin: datetime) -> str:
    minutes = round((at - origin) / timedelta(minutes=1))
    if abs(minutes) < 120:
        return "T0" if minutes == 0 else f"T{minutes:+d}"
    sign = "+" if minutes > 0 else "-"
    return f"T{sign}{abs(minutes) // 60} h {abs(minutes) % 60:02d}"


def _ordinal(n: int) -> str:
    if n == 1:
        return "largest"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} largest"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quoted(text: str, limit: int = MAX_POST_CHARS) -> tuple[Piece, ...]:
    return ("“", Data(_clip(text, limit)), "”")


def _label(value: str) -> str:
    return value.replace("_", " ")


# -- what the numbers say --------------------------------------------------------------------
def first_update_at(data: BriefData) -> datetime | None:
    if data.response is not None and data.response.first_update_at is not None:
        return data.response.first_update_at
    if data.updates:
        return min(u.at for u in data.updates)
    return data.incident.started_at if data.incident else None


def social_lead_minutes(data: BriefData) -> float | None:
    """Minutes between complaints rising and the status page's first word (> 0: social first)."""
    first = first_update_at(data)
    if first is None:
        return None
    return (first - data.spike.start) / timedelta(minutes=1)


def helpful_updates(data: BriefData) -> list[UpdateEffect]:
    return [e for e in data.update_effects
            if e.rate_change_pct is not None and e.rate_change_pct <= HELPED_CHANGE_PCT]


def distinct_themes(themes: Sequence[ThemeFacts]) -> list[ThemeFacts]:
    """Themes whose representative posts all say different things, largest first."""
    seen: set[str] = set()
    result = []
    for theme in sorted(themes, key=lambda t: -t.posts):
        key = dedupe_key(theme.text)
        if key in seen:
            continue
        seen.add(key)
        result.append(theme)
    return result[:MAX_THEMES]


def _phase(data: BriefData, name: str) -> SentimentPhase | None:
    return next((p for p in data.sentiment if p.phase == name and p.posts), None)


def headline(data: BriefData) -> Line:
    spike = data.spike
    size: Line
    if spike.ratio is not None:
        size = (f" complaints ran {spike.ratio:.1f}x above normal for {_duration(spike.minutes)}",)
    else:
        size = ((f" complaints rose from almost none to {_rate(spike.peak_rate)} for "
                f"{_duration(spike.minutes)}"),)
    cause: Line
    if data.incident is None:
        cause = ("; no status-page incident explains it",)
    elif data.incident.relation == "upstream":
        cause = ("; the upstream ", Data(data.incident.provider_name), " incident explains it")
    else:
        cause = ("; ", Data(data.incident.provider_name), "'s own incident explains it")
    lead = social_lead_minutes(data) if data.incident else None
    timing: Line = ()
    if lead is not None and round(lead) >= 1:
        timing = (f"; social saw it {_duration(lead)} before the status page",)
    elif lead is not None and round(lead) <= -1:
        timing = (f"; the status page spoke {_duration(-lead)} before complaints rose",)
    elif lead is not None:
        timing = ("; social and the status page moved together",)
    return (Data(data.service_name), *size, *cause, *timing)


def talking_points(data: BriefData) -> list[Line]:
    """3-5 points, most useful first, each grounded in a number shown in the brief."""
    points: list[Line] = []
    spike, incident = data.spike, data.incident
    if incident is not None:
        resolved = ", not yet marked resolved"
        if incident.resolved_at is not None:
            took = (incident.resolved_at - incident.started_at) / timedelta(minutes=1)
            resolved = f", resolved after {_duration(took)}"
        if incident.relation == "upstream":
            points.append(("The cause was upstream: ", Data(incident.provider_name),
                           "'s incident ", *_quoted(incident.title, 120),
                           (f" started at {_clock(incident.started_at)} UTC{resolved}. Say so "
                           "plainly, and say what we do when a provider we build on fails.")))
        else:
            points.append(("This was our own incident ", *_quoted(incident.title, 120),
                           (f", started at {_clock(incident.started_at)} UTC{resolved}. Own it "
                           "and say what changes.")))
    else:
        points.append((("No status page we depend on reported an incident during the spike "
                       f"({_n(spike.complaints)} complaints in {_duration(spike.minutes)}): "
                       "check our own systems, and be the first to say what happened."),))
    lead = social_lead_minutes(data) if incident else None
    if data.response is not None and data.response.silent:
        points.append((("No status update went out while complaints ran "
                       f"({_duration(spike.minutes)}, {_n(spike.complaints)} complaints): "
                       "silence reads as not knowing."),))
    elif lead is not None and lead >= 5:
        points.append(((f"Users noticed {_duration(lead)} before the status page said anything: "
                       "post a first acknowledgement as soon as complaints rise, even before "
                       "the cause is known."),))
    helped = helpful_updates(data)
    if helped:
        best = min(helped, key=lambda e: e.rate_change_pct or 0.0)
        points.append((f"Complaints fell {abs(best.rate_change_pct or 0):.0f}% after the ",
                       Data(best.what), (f" at {_clock(best.update_at)} "
                       f"({_rate(best.rate_before)} before, {_rate(best.rate_after)} after): "
                       "updates that name the cause and the next step calm people down."),))
    elif data.update_effects:
        points.append(((f"None of the {len(data.update_effects)} updates was followed by "
                       "falling complaints: updates need substance (cause, workaround, next "
                       "update time), not just a status change."),))
    themes = distinct_themes(data.themes)
    if themes:
        top = themes[0]
        points.append(("The biggest theme is ", Strong((Data(top.label),)),
                       (f" ({_pct(top.share)} of complaints): answer it directly, in those "
                       "words."),))
    switching = sorted((c for c in data.competitors if c.switching_intent > 0),
                       key=lambda c: (-c.switching_intent, -c.mentions, c.competitor))
    if switching:
        c = switching[0]
        points.append((f"{_n(c.switching_intent)} posts talked about switching to ",
                       Data(c.competitor), (f" ({_n(c.mentions)} mentions, against "
                       f"{_n(c.baseline_mentions)} in the same time before the spike): "
                       "reassure existing customers about reliability and their data."),))
    before, during, after = (_phase(data, p) for p in ("before", "during", "after"))
    if before and during and after:
        recovered = ((after.negative_share or 0) - (before.negative_share or 0)) <= 0.05
        points.append((f"Negative sentiment went from {_pct(before.negative_share)} before to "
                       f"{_pct(during.negative_share)} during and {_pct(after.negative_share)} "
                       "after the spike: " + ("mood has recovered." if recovered else
                                               "mood has not recovered yet; follow up."),))
    rank = data.history.rank_of(spike.complaints)
    if len(data.history.complaints) > 1:
        points.append(((f"At {_n(spike.complaints)} complaints this is the {_ordinal(rank)} of "
                       f"{len(data.history.complaints)} "), Data(data.service_name),
                       (f" spikes on record ({spike.complaints / max(data.history.median, 1):.1f}x "
                       "the median): size the response to match."),))
    return points[:MAX_TALKING_POINTS]


# -- composing -------------------------------------------------------------------------------
def compose(data: BriefData) -> list[Block]:
    spike = data.spike
    blocks: list[Block] = [Heading(1, (
        "Comms brief: ", Data(data.service_name),
        (f" complaint spike, {_day(spike.start)} {_clock(spike.start)}–"
        f"{_clock(spike.end)} UTC")))]
    if data.simulated:
        blocks.append(Note(("Simulated demo data: ", ("the posts behind this brief were generated "
                            "by Aftershock's demo scenario; the status-page incidents are real "
                            "history."))))
    blocks.append(Para((Strong(headline(data)),)))
    blocks += _what_happened(data)
    blocks += _timeline(data)
    blocks += _size(data)
    blocks += _complaint_mix(data)
    blocks += _themes(data)
    blocks += _competitors(data)
    blocks += _sentiment(data)
    blocks += _updates(data)
    blocks.append(Heading(2, ("Talking points",)))
    blocks.append(Items(tuple(talking_points(data)), numbered=True))
    if data.missing:
        blocks.append(Note(("Not in the warehouse yet (run ", "aftershock analyze", "): ",
                            Data(", ".join(data.missing)), ".")))
    blocks.append(Para(((f"Spike {spike.spike_id}. Times in UTC. Generated by Aftershock from its "
                        "warehouse; counts are posts classified as complaints by its local "
                        "model."),)))
    return blocks


def _what_happened(data: BriefData) -> list[Block]:
    spike, incident = data.spike, data.incident
    normal = (f"normal for that time: {_rate(spike.expected_rate)}"
              if spike.ratio is not None else "normally almost none")
    items: list[Line] = [((f"{_n(spike.complaints)} complaints between {_clock(spike.start)} and "
                          f"{_clock(spike.end)} UTC, peaking at {_rate(spike.peak_rate)} at "
                          f"{_clock(spike.peak)} ({normal})."),)]
    if incident is not None:
        resolved = (f", resolved {_clock(incident.resolved_at)}" if incident.resolved_at
                    else ", not resolved")
        impact = f", impact {incident.impact}" if incident.impact else ""
        relation = "Upstream cause" if incident.relation == "upstream" else "Cause"
        items.append((f"{relation}: ", Data(incident.provider_name), " incident ",
                      *_quoted(incident.title, 160),
                      (f" (started {_clock(incident.started_at)}{resolved}{impact}; link "
                      f"confidence {incident.confidence:.2f}).")))
    else:
        items.append((("No incident on the status pages this service depends on overlaps the "
                      "spike: the cause may be the service itself or unreported."),))
    for alt in data.alternatives:
        items.append(("Also overlapping: ", Data(alt.provider_name), " incident ",
                      *_quoted(alt.title, 120),
                      f" (link confidence {alt.confidence:.2f}, less likely).",))
    if data.reaction is not None:
        r = data.reaction
        items.append(((f"Reach: {_n(r.distinct_authors)} people posted {_n(r.posts)} times, "
                      f"{_n(r.reach)} followers reached, {_n(r.reposts)} reposts, "
                      f"{_n(r.quotes)} quotes."),))
        if r.top_amplifiers:
            line: list[Piece] = ["Loudest voices: "]
            for i, amp in enumerate(r.top_amplifiers[:3]):
                line += [", " if i else "", Data(amp.author),
                         f" ({_n(amp.followers)} followers, {_n(amp.reposts)} reposts)"]
            items.append((*line, "."))
    for other in data.also_hit:
        items.append(("The same incident also hit ", Data(other.service_name),
                      f" ({_n(other.complaints)} complaints in its own spike).",))
    return [Heading(2, ("What happened",)), Items(tuple(items))]


def _timeline(data: BriefData) -> list[Block]:
    spike, incident = data.spike, data.incident
    events: list[tuple[datetime, int, Line]] = [
        (spike.start, 0, ("Complaints rise above normal",)),
        (spike.peak, 0, (f"Complaints peak at {_rate(spike.peak_rate)}",)),
        (spike.end, 2, ("Complaints back to normal",)),
    ]
    first = data.response.first_complaint_at if data.response else None
    if first is not None and first < spike.start:
        events.append((first, 0, ("First complaint posted",)))
    if incident is not None:
        name = Data(incident.provider_name)
        if not data.updates or min(u.at for u in data.updates) > incident.started_at:
            events.append((incident.started_at, 1, (name, (" incident starts (per its status "
                                                    "page)"))))
        # Updates long after the spike and the resolution (a postmortem a week later) are
        # counted in one last row, not listed.
        cutoff = max(spike.end, incident.resolved_at or spike.end) + LATE_UPDATE
        late = [u for u in data.updates if u.at > cutoff]
        for u in data.updates:
            if u.at <= cutoff:
                events.append((u.at, 1, (name, " status ", Strong((Data(u.status),)), ": ",
                                         *_quoted(u.body, MAX_UPDATE_CHARS))))
        if late:
            events.append((late[0].at, 3, (f"{len(late)} later update(s), first ",
                                           Data(late[0].status), f" on {_day(late[0].at)}")))
        if incident.resolved_at and not any(u.status == "resolved" for u in data.updates):
            events.append((incident.resolved_at, 1, (name, " marks the incident resolved",)))
    events.sort(key=lambda e: (e[0], e[1]))
    multi_day = events[0][0].date() != events[-1][0].date()
    rows = tuple(
        ((f"{at.day} {at:%b} {_clock(at)}" if multi_day else _clock(at),),
         (_offset(at, spike.start),), line)
        for at, _, line in events)
    return [Heading(2, ("Timeline (UTC)",)), Table(("time", "since rise", "what"), rows)]


def _size(data: BriefData) -> list[Block]:
    h, spike = data.history, data.spike
    if len(h.complaints) <= 1:
        text: Line = ("The only complaint spike of ", Data(data.service_name),
                      f" between {_day(h.since)} and {_day(h.until)}: nothing to compare with.",)
    else:
        text = ((f"The {_ordinal(h.rank_of(spike.complaints))} of {len(h.complaints)} complaint "
                "spikes of "), Data(data.service_name), (f" between {_day(h.since)} and "
                f"{_day(h.until)}: {_n(spike.complaints)} complaints against a median spike of "
                f"{_n(h.median)} ({spike.complaints / max(h.median, 1):.1f}x); the largest had "
                f"{_n(max(h.complaints))}."),)
    if data.reaction is not None:
        text = (*text, f" The busiest minute brought {_n(data.reaction.busiest_minute)} posts.")
    return [Heading(2, ("Size versus history",)), Para(text)]


def _complaint_mix(data: BriefData) -> list[Block]:
    total = sum(n for _, n in data.complaint_mix)
    if not total:
        return [Heading(2, ("Complaint mix",)), Para(("No classified complaints.",))]
    rows = tuple(((Data(_label(kind)),), (_n(n),), (_pct(n / total),))
                 for kind, n in sorted(data.complaint_mix, key=lambda kv: (-kv[1], kv[0])))
    return [Heading(2, ("Complaint mix",)),
            Table(("complaint type", "complaints", "share"), rows, (False, True, True))]


def _themes(data: BriefData) -> list[Block]:
    blocks: list[Block] = [Heading(2, ("Themes: what people say",))]
    themes = distinct_themes(data.themes)
    if not themes:
        blocks.append(Para(("Too few distinct complaints to find themes.",)))
        return blocks
    if len(themes) < MIN_THEMES:
        blocks.append(Para((f"Only {len(themes)} distinct theme(s) in the complaints.",)))
    for i, t in enumerate(themes, 1):
        blocks.append(Para((f"{i}. ", Strong((Data(t.label),)),
                            f" — {_pct(t.share)} of complaints ({_n(t.posts)} posts)",)))
        blocks.append(Quote((*_quoted(t.text), " — ", Data(t.source), " post ",
                             Data(t.post_id))))
    return blocks


def _competitors(data: BriefData) -> list[Block]:
    blocks: list[Block] = [Heading(2, ("Competitors",))]
    named = [c for c in data.competitors if c.mentions > 0]
    if not named:
        blocks.append(Para(("No competitor was named in the spike's posts.",)))
        return blocks
    rows = tuple(((Data(c.competitor),), (_n(c.mentions),), (_n(c.switching_intent),),
                  (_n(c.baseline_mentions),))
                 for c in sorted(named, key=lambda c: (-c.mentions, c.competitor)))
    blocks.append(Table(("competitor", "mentions", "switching intent", "before the spike"),
                        rows, (False, True, True, True)))
    return blocks


def _sentiment(data: BriefData) -> list[Block]:
    blocks: list[Block] = [Heading(2, ("Sentiment before, during and after",))]
    phases = [p for p in data.sentiment if p.posts]
    if not phases:
        blocks.append(Para(("No classified posts around the spike.",)))
        return blocks
    rows = tuple(((p.phase,), (f"{_clock(p.start)}–{_clock(p.end)}",), (_rate(p.per_minute),),
                  (_pct(p.negative_share),), (_pct(p.neutral / p.posts),),
                  (_pct(p.positive / p.posts),)) for p in phases)
    blocks.append(Table(("phase", "window", "posts", "negative", "neutral", "positive"), rows,
                        (False, False, True, True, True, True)))
    return blocks


def _updates(data: BriefData) -> list[Block]:
    blocks: list[Block] = [Heading(2, ("Which updates helped",))]
    if not data.update_effects:
        blocks.append(Para(("No status update fell inside the spike's window."
                            if data.incident else "No status updates to assess.",)))
        return blocks
    rows = []
    for e in sorted(data.update_effects, key=lambda e: e.update_at):
        change = "n/a" if e.rate_change_pct is None else f"{e.rate_change_pct:+.0f}%"
        rows.append(((_clock(e.update_at),), (Data(e.what),),
                     (f"{_rate(e.rate_before)} → {_rate(e.rate_after)}",), (change,),
                     (f"{_pct(e.negative_share_before)} → {_pct(e.negative_share_after)}",)))
    window = round(data.update_effects[0].window_minutes)
    blocks.append(Table(("time", "update", f"complaints, {window} min before → after",
                         "change", "negative share"), tuple(rows),
                        (False, False, True, True, True)))
    helped = helpful_updates(data)
    verdict: Line = (("Followed by falling complaints: " + ", ".join(
        f"{e.what} at {_clock(e.update_at)}" for e in helped) + ".",) if helped else
        ("No update was followed by a fall in complaints.",))
    blocks.append(Para(verdict))
    return blocks


# -- rendering -----------------------------------------------------------------------------
# Characters with an inline meaning: escapes, code, emphasis, links and images, tables,
# strikethrough, math, and `:` / `.` that GFM needs to autolink `http:` and `www.` text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$:.])")
# Block markers matter only at the start of a line; whitespace is collapsed, so only there.
_MD_BLOCK_START = re.compile(r"^([#+\-=]|\d+(?=[.)]))")


def escape_markdown(text: str) -> str:
    """Data text as inert Markdown: whitespace collapsed (no new line, so no new block), every
    character with an inline meaning backslash-escaped, a block marker at the start escaped,
    and <, > and & as entities (no raw HTML, no quote)."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_BLOCK_START.sub(lambda m: "\\" + m.group(1) if not m.group(1).isdigit()
                               else m.group(1) + "\\", text, count=1)


def escape_html(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=True)


def _md(line: Line) -> str:
    out = []
    for piece in line:
        if isinstance(piece, Data):
            out.append(escape_markdown(piece.text))
        elif isinstance(piece, Strong):
            out.append(f"**{_md(piece.parts)}**")
        else:
            out.append(piece)
    return "".join(out)


def _html(line: Line) -> str:
    out = []
    for piece in line:
        if isinstance(piece, Data):
            out.append(escape_html(piece.text))
        elif isinstance(piece, Strong):
            out.append(f"<strong>{_html(piece.parts)}</strong>")
        else:
            out.append(html.escape(piece, quote=False))
    return "".join(out)


def _md_block(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + _md(block.line)
    if isinstance(block, Note):
        return "> **Note.** " + _md(block.line)
    if isinstance(block, Quote):
        return "> " + _md(block.line)
    if isinstance(block, Items):
        return "\n".join(f"{i}. {_md(line)}" if block.numbered else f"- {_md(line)}"
                         for i, line in enumerate(block.lines, 1))
    if isinstance(block, Table):
        numeric = block.numeric or (False,) * len(block.header)
        head = "| " + " | ".join(block.header) + " |"
        rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
        rows = ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in block.rows]
        return "\n".join([head, rule, *rows])
    return _md(block.line)


def render_markdown(data: BriefData) -> str:
    return "\n\n".join(_md_block(b) for b in compose(data)) + "\n"


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_html(block.line)}</h{block.level}>"
    if isinstance(block, Note):
        return f'<p class="note"><strong>Note.</strong> {_html(block.line)}</p>'
    if isinstance(block, Quote):
        return f"<blockquote>{_html(block.line)}</blockquote>"
    if isinstance(block, Items):
        tag = "ol" if block.numbered else "ul"
        return f"<{tag}>" + "".join(f"<li>{_html(line)}</li>" for line in block.lines) + \
            f"</{tag}>"
    if isinstance(block, Table):
        numeric = block.numeric or (False,) * len(block.header)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
        rows = "".join(
            "<tr>" + "".join(f'<td class="num">{_html(c)}</td>' if n else f"<td>{_html(c)}</td>"
                             for c, n in zip(row, numeric, strict=True)) + "</tr>"
            for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f"<p>{_html(block.line)}</p>"


_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1b1f24; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 1.8rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #d8dee4; padding: .3rem .6rem; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
blockquote { margin: .2rem 0 1rem; padding: .4rem .8rem; border-left: 3px solid #8c959f;
             background: #f6f8fa; }
.note { background: #fff8c5; padding: .5rem .8rem; border-radius: 4px; }
"""


def render_html(data: BriefData) -> str:
    """A standalone page. Its Content-Security-Policy forbids scripts and every external load,
    a second line of defence behind the escaping."""
    blocks = compose(data)
    title = _html(blocks[0].line) if isinstance(blocks[0], Heading) else "Comms brief"
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">\n"
        f"<title>{title}</title>\n<style>{_CSS}</style></head>\n<body><main>\n{body}\n"
        "</main></body></html>\n"
    )
