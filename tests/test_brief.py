"""The comms brief on hand-made facts: the headline and talking points follow the numbers, themes
never repeat a text, and post text can never turn into Markdown or HTML."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from analysis.brief import (
    Amplifier,
    BriefData,
    CompetitorFacts,
    History,
    IncidentFacts,
    Reaction,
    ResponseTimes,
    SentimentPhase,
    SpikeFacts,
    StatusUpdate,
    ThemeFacts,
    UpdateEffect,
    escape_markdown,
    render_html,
    render_markdown,
    talking_points,
)
from analysis.linking import LINK_COLUMNS
from pipelines.brief import BriefTargetError, gather
from pipelines.cli import main
from pipelines.config import ServicesConfig, load_config
from pipelines.warehouse.writer import writing

T0 = datetime(2024, 8, 13, 15, 40, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


SPIKE = SpikeFacts("notion:all:20240813T1540", start=T0, peak=at(12), end=at(47),
                   peak_rate=12.4, expected_rate=2.0, complaints=412)
INCIDENT = IncidentFacts("anthropic", "Anthropic", "inc1", "Elevated errors on the API", "major",
                         started_at=at(10), resolved_at=at(95), relation="upstream",
                         confidence=0.78, lead_minutes=10)
UPDATES = (StatusUpdate(at(14), "investigating", "We are investigating elevated errors."),
           StatusUpdate(at(30), "identified", "A fix is being implemented."),
           StatusUpdate(at(95), "resolved", "This incident has been resolved."))


def theme(label: str, posts: int, text: str, post_id: str) -> ThemeFacts:
    return ThemeFacts(label, posts, posts / 412, text, "x", post_id)


def sentiment(phase: str, start: float, neg: int, neu: int, pos: int) -> SentimentPhase:
    return SentimentPhase(phase, at(start), at(start + 48), neg, neu, pos)


FULL = BriefData(
    service_name="Notion AI", spike=SPIKE, incident=INCIDENT, updates=UPDATES,
    history=History((412, 100, 120, 140, 600), since=at(-3 * 1440), until=at(7 * 1440)),
    response=ResponseTimes(at(-2), at(14), 16.0, 95.0, 60.0, silent=False),
    reaction=Reaction(posts=500, distinct_authors=450, reposts=120, quotes=30, likes=900,
                      reach=1_250_000, busiest_minute=19,
                      top_amplifiers=(Amplifier("@loud<b>", 90_000, 40),)),
    complaint_mix=(("outage", 200), ("errors", 150), ("switching", 62)),
    themes=(theme("ai down, writing", 150, "notion ai is down mid-draft", "1"),
            theme("coda, switching", 60, "moving our wiki to coda tonight", "2"),
            theme("status page, green", 40, "status page is still green??", "3")),
    competitors=(CompetitorFacts("Coda", 48, 21, 3), CompetitorFacts("Obsidian", 5, 0, 2)),
    sentiment=(sentiment("before", -48, 20, 60, 20), sentiment("during", 0, 300, 150, 50),
               sentiment("after", 48, 40, 50, 10)),
    update_effects=(UpdateEffect(at(14), "investigating", 15, 10.0, 11.0, 0.6, 0.62, 10.0),
                    UpdateEffect(at(30), "identified", 15, 9.0, 5.6, 0.6, 0.45, -38.0),
                    UpdateEffect(at(40), "", 15, 6.0, 6.6, 0.45, 0.5, 10.0, "official_post")),
    simulated=True,
)


def test_headline_states_size_cause_and_who_saw_it_first() -> None:
    md = render_markdown(FULL)
    first_bold = re.search(r"^\*\*(.+)\*\*$", md, re.MULTILINE)
    assert first_bold is not None
    assert first_bold.group(1) == (
        "Notion AI complaints ran 6.2x above normal for 48 min; the upstream Anthropic incident "
        "explains it; social saw it 14 min before the status page")


@pytest.mark.parametrize("change, expected", [
    ({"response": None, "updates": (), "incident": replace(INCIDENT, started_at=at(-10))},
     "the status page spoke 10 min before complaints rose"),
    ({"incident": None, "updates": (), "response": None}, "no status-page incident explains it"),
    ({"incident": replace(INCIDENT, relation="own", provider_name="Notion")},
     "Notion's own incident explains it"),
    ({"spike": replace(SPIKE, expected_rate=0.0)}, "rose from almost none to 12.4/min"),
])
def test_headline_variants(change: dict, expected: str) -> None:
    assert expected in render_markdown(replace(FULL, **change)).split("\n\n")[2]


def test_sections_carry_the_numbers() -> None:
    md = render_markdown(FULL)
    assert "> **Note.** Simulated demo data" in md
    assert "The 2nd largest of 5 complaint spikes of Notion AI" in md
    assert "412 complaints against a median spike of 140 (2.9x)" in md
    assert "| outage | 200 | 49% |" in md
    assert "| Coda | 48 | 21 | 3 |" in md
    assert "| during | 15:40–16:28 | 10.4/min | 60% | 30% | 10% |" in md
    assert "| 16:10 | identified update | 9.0/min → 5.6/min | -38% | 60% → 45% |" in md
    assert "| 16:20 | official post | 6.0/min → 6.6/min | +10% | 45% → 50% |" in md
    assert "Followed by falling complaints: identified update at 16:10." in md
    assert "@loud&lt;b&gt; (90,000 followers, 40 reposts)" in md
    assert "The busiest minute brought 19 posts." in md
    # The timeline merges spike milestones and status updates in time order.
    timeline = md.split("## Timeline (UTC)")[1].split("##")[0]
    events = [line.split("|")[3].strip() for line in timeline.strip().splitlines()[2:]]
    expected = ["First complaint posted", "Complaints rise above normal",
                "Anthropic incident starts", "Complaints peak at 12.4/min",
                "Anthropic status **investigating**", "Anthropic status **identified**",
                "Complaints back to normal", "Anthropic status **resolved**"]
    assert len(events) == len(expected)
    assert all(e.startswith(x) for e, x in zip(events, expected, strict=True))
    assert "| 15:38 | T-2 |" in timeline and "| 17:15 | T+95 |" in timeline
    assert "simulated" not in render_markdown(replace(FULL, simulated=False)).lower()


def test_talking_points_are_three_to_five_and_each_cites_a_number() -> None:
    for data in (FULL, replace(FULL, incident=None, updates=(), response=None,
                               update_effects=(), themes=(), competitors=())):
        points = talking_points(data)
        assert 3 <= len(points) <= 5
        for point in points:
            assert re.search(r"\d", render_markdown(replace(data, simulated=False)))
            assert re.search(r"\d", "".join(p if isinstance(p, str) else "" for p in point))


def test_talking_points_follow_the_numbers() -> None:
    text = " ".join(str(p) for p in talking_points(FULL))
    assert "Users noticed 14 min before the status page" in text
    assert "Complaints fell 38% after the " in text
    assert "21 posts talked about switching to " in text
    silent = replace(FULL, response=replace(FULL.response, silent=True), update_effects=())
    text = " ".join(str(p) for p in talking_points(silent))
    assert "No status update went out while complaints ran (48 min, 412 complaints)" in text
    unhelpful = replace(FULL, update_effects=FULL.update_effects[:1])
    assert "None of the 1 updates" in " ".join(str(p) for p in talking_points(unhelpful))


def test_themes_never_show_the_same_text_twice() -> None:
    twins = FULL.themes + (theme("outage", 30, "RT @x: Notion AI is DOWN mid-draft!!", "4"),
                           theme("down", 20, "NOTION AI IS DOWN MID DRAFT", "5"))
    md = render_markdown(replace(FULL, themes=twins))
    quotes = [line for line in md.splitlines() if line.startswith("> “")]
    assert len(quotes) == 3


HOSTILE = [
    "<script>alert('x')</script> notion is down",
    "<img src=x onerror=alert(1)> **bold** _it_ `code` ~~gone~~",
    "[click here](javascript:alert(1)) ![img](http://evil.example/x.png)",
    "| a | b |\n# Heading\n> quote\n- item\n1. one\n\n<div>block</div>",
    "visit www.evil.example or https://evil.example/login &amp; $x^2$ [^1] \\",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_post_text_is_shown_as_text_never_rendered(text: str) -> None:
    data = replace(FULL, themes=(theme(text, 100, text, "9"),),
                   updates=(StatusUpdate(at(14), "investigating", text),),
                   incident=replace(INCIDENT, title=text))
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(
        render_markdown(data))
    page = render_html(data)
    for out in (rendered, page):
        for tag in ("<script", "<img", "<a ", "<em>", "<code>", "<del>", "<s>", "<div",
                    "<h1>Heading", "<li>item", "<sup"):
            assert tag not in out
        assert " ".join(text.split())[:40] in html.unescape(out)
    assert "http://" not in render_markdown(data) and "www." not in render_markdown(data)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=80),
       st.sampled_from(["", "x "]))
def test_escaped_markdown_renders_back_to_the_same_text(text: str, prefix: str) -> None:
    """Anywhere in a line, the start included: the rendered paragraph holds exactly the text."""
    shown = " ".join((prefix + text).split())
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(
        prefix + escape_markdown(text))
    expected = html.escape(shown, quote=True).replace("&#x27;", "'")
    assert rendered == (f"<p>{expected}</p>\n" if shown else "")


def test_html_is_a_standalone_page_without_scripts() -> None:
    page = render_html(FULL)
    assert page.startswith("<!doctype html>")
    assert "default-src 'none'" in page
    assert "<h2>Talking points</h2>" in page and page.count("<ol>") == 1
    assert '<td class="num">412</td>' not in page  # 412 is in prose, not the mix table
    assert '<td class="num">200</td>' in page


def test_missing_analyses_are_named() -> None:
    md = render_markdown(replace(FULL, reaction=None, competitors=(), update_effects=(),
                                 missing=("spike_reaction", "competitor_mentions")))
    assert "Not in the warehouse yet (run aftershock analyze): spike\\_reaction, " in md
    assert "No competitor was named" in md


# -- gathering from a hand-built warehouse ---------------------------------------------------
SPIKE_ID = "notion:all:20240813T1540"
HOSTILE_POST = "<script>alert(1)</script> **Notion AI** is [down](javascript:x)"


def _post(i: int, minute: str, kind: str, sentiment: str, text: str = "notion ai broke") -> dict:
    return {"source": "x", "id": f"p{i}", "service": "notion",
            "created_at": pd.Timestamp(f"2024-08-13T{minute}Z"), "text": f"{text} {i}",
            "author": f"a{i}", "author_followers": i, "likes": 0, "reposts": 0, "replies": 0,
            "quotes": 0, "lang": "en", "url": None, "is_repost": False, "parent_id": None,
            "raw_page_id": None, "kind": kind, "sentiment": sentiment}


def _posts() -> list[dict]:
    """Before 15:10-15:40: 2 complaints + 8 other posts; during 15:40-15:50: 25 outage, 10
    errors, 5 switching complaints and 5 neutral posts; after 15:50-16:20: 6 posts."""
    rows = [_post(i, f"15:{12 + i}:00", "outage", "negative") for i in range(2)]
    rows += [_post(10 + i, f"15:{20 + i}:00", "none", "neutral" if i < 6 else "positive")
             for i in range(8)]
    for i in range(45):
        kind = ("outage" if i < 25 else "errors" if i < 35 else "switching" if i < 40
                else "none")
        rows.append(_post(100 + i, f"15:{40 + i % 10}:{i:02d}", kind,
                          "negative" if kind != "none" else "neutral"))
    rows += [_post(200 + i, f"16:{i:02d}:00", "none", "negative" if i < 2 else "neutral")
             for i in range(6)]
    return rows


def _spike(spike_id: str, service: str, start: str, posts: int, ctype: str | None = None
           ) -> dict:
    t = pd.Timestamp(start)
    return {"spike_id": spike_id, "service": service, "complaint_type": ctype, "start": t,
            "peak": t + pd.Timedelta(minutes=3), "end": t + pd.Timedelta(minutes=9),
            "peak_rate": 6.0, "expected_rate": 0.5, "score": 9.0, "posts": posts}


def _link(spike_id: str, provider: str, incident_id: str, service: str, relation: str,
          confidence: float) -> dict:
    return {"spike_id": spike_id, "incident_id": incident_id, "provider": provider,
            "service": service, "relation": relation, "lead_minutes": 5.0,
            "overlap_minutes": 10.0, "confidence": confidence}


@pytest.fixture()
def brief_db(db: Path) -> Path:
    from pipelines.analyze import BUCKET_COLUMNS, BUCKETS_SQL
    from pipelines.themes_step import SPIKE_THEME_COLUMNS
    from pipelines.warehouse.writer import INCIDENT_COLUMNS, POST_COLUMNS, UPDATE_COLUMNS

    posts = pd.DataFrame(_posts())
    classes = posts.assign(
        model_version="test", sentiment_scores="{}", complaint_scores="{}",
        is_complaint=posts["kind"] != "none", complaint_type=posts["kind"],
        complaint_probability=(posts["kind"] != "none").astype(float),
        uncertain=False, language="en", unsupported_language=False)
    ts = pd.Timestamp
    incident = {"title": "Elevated errors on the API", "impact": "major", "status": "resolved",
                "components": None, "url": None, "created_at": None, "updated_at": None}
    incidents = pd.DataFrame([
        {**incident, "provider": "anthropic", "incident_id": "inc1",
         "started_at": ts("2024-08-13T15:45Z"), "resolved_at": ts("2024-08-13T16:30Z")},
        {**incident, "provider": "openai", "incident_id": "inc2", "title": "ChatGPT down",
         "started_at": ts("2024-08-13T15:30Z"), "resolved_at": ts("2024-08-13T15:55Z")},
        {**incident, "provider": "openai", "incident_id": "dup",
         "started_at": ts("2024-08-01T15:30Z"), "resolved_at": None},
        {**incident, "provider": "anthropic", "incident_id": "dup",
         "started_at": ts("2024-08-01T15:30Z"), "resolved_at": None},
    ])
    updates = pd.DataFrame([
        {"provider": "anthropic", "incident_id": "inc1", "update_id": "u2", "status": "resolved",
         "body": "Fixed.", "created_at": ts("2024-08-13T16:30Z")},
        {"provider": "anthropic", "incident_id": "inc1", "update_id": "u1",
         "status": "investigating", "body": "<b>Looking</b> into it",
         "created_at": ts("2024-08-13T15:48Z")},
    ])
    spikes = pd.DataFrame([
        _spike(SPIKE_ID, "notion", "2024-08-13T15:40Z", 40),
        _spike("notion:outage:20240813T1540", "notion", "2024-08-13T15:40Z", 25, "outage"),
        _spike("notion:all:20240812T0900", "notion", "2024-08-12T09:00Z", 10),
        _spike("claude:all:20240813T1545", "claude", "2024-08-13T15:45Z", 30),
        _spike("chatgpt:all:20240814T1000", "chatgpt", "2024-08-14T10:00Z", 50),
    ])
    links = pd.DataFrame([
        _link(SPIKE_ID, "anthropic", "inc1", "notion", "upstream", 0.8),
        _link(SPIKE_ID, "openai", "inc2", "notion", "upstream", 0.4),
        _link("claude:all:20240813T1545", "anthropic", "inc1", "claude", "own", 0.9),
        _link("chatgpt:all:20240814T1000", "openai", "inc2", "chatgpt", "own", 0.9),
    ])
    themes = pd.DataFrame([{
        "spike_id": SPIKE_ID, "theme_id": 1, "label": "ai, broke", "posts": 30,
        "distinct_texts": 20, "share": 0.75, "representative_id": "p100",
        "representative_source": "x", "representative_text": HOSTILE_POST, "sample_ids": "[]",
        "posts_signature": None}])
    with writing(db) as wh:
        wh.upsert_posts(posts[POST_COLUMNS])
        wh.write_classifications(classes)
        wh.upsert_incidents(incidents[INCIDENT_COLUMNS], updates[UPDATE_COLUMNS])
        wh.replace_table("post_buckets", wh.con.execute(BUCKETS_SQL).df(), BUCKET_COLUMNS)
        wh.replace_table("spikes", spikes, list(spikes.columns))
        wh.replace_table("incident_links", links, LINK_COLUMNS)
        wh.replace_table("spike_themes", themes, SPIKE_THEME_COLUMNS)
        wh.record_run("demo", "demo", ts("2024-08-20T00:00Z"), "completed", "{}")
    return db


@pytest.fixture(scope="module")
def services() -> ServicesConfig:
    from pipelines.settings import BUNDLED_CONFIG

    return load_config(BUNDLED_CONFIG)


def test_gather_collects_the_spikes_facts(brief_db: Path, services: ServicesConfig) -> None:
    data = gather(brief_db, SPIKE_ID, services)
    assert data.service_name == "Notion AI" and data.simulated
    assert data.spike.complaints == 40 and data.spike.minutes == 10
    assert data.incident is not None and data.incident.provider_name == "Anthropic"
    assert [a.incident_id for a in data.alternatives] == ["inc2"]
    assert [u.status for u in data.updates] == ["investigating", "resolved"]
    assert dict(data.complaint_mix) == {"outage": 25, "errors": 10, "switching": 5}
    phases = {p.phase: (p.negative, p.neutral, p.positive) for p in data.sentiment}
    assert phases == {"before": (2, 6, 2), "during": (40, 5, 0), "after": (2, 4, 0)}
    assert sorted(data.history.complaints) == [10, 40]
    assert [(o.service_name, o.complaints) for o in data.also_hit] == [("Claude", 30)]
    md = render_markdown(data)
    assert ("Notion AI complaints ran 12.0x above normal for 10 min; the upstream Anthropic "
            "incident explains it; social saw it 8 min before the status page") in md
    assert "<script>" not in md and "<b>" not in md


@pytest.mark.parametrize("target, spike_id, incident", [
    ("openai:inc2", "chatgpt:all:20240814T1000", "inc2"),  # the spike it explains best
    ("inc1", SPIKE_ID, "inc1"),                  # its best-explained spike, the largest one
    ("largest", SPIKE_ID, "inc1"),               # inc1 explains 40 + 30 complaints, inc2 50
    ("latest", "chatgpt:all:20240814T1000", "inc2"),
    ("notion:all:20240812T0900", "notion:all:20240812T0900", None),
])
def test_targets(brief_db: Path, services: ServicesConfig, target: str, spike_id: str,
                 incident: str | None) -> None:
    data = gather(brief_db, target, services)
    assert data.spike.spike_id == spike_id
    assert (data.incident.incident_id if data.incident else None) == incident


@pytest.mark.parametrize("target, message", [
    ("nope", "no spike or incident 'nope'"),
    ("dup", "ambiguous: anthropic:dup, openai:dup"),
    ("openai:dup", "has no linked complaint spike"),
])
def test_bad_targets_are_clear_errors(brief_db: Path, services: ServicesConfig, target: str,
                                      message: str) -> None:
    with pytest.raises(BriefTargetError, match=message):
        gather(brief_db, target, services)


def test_cli_writes_markdown_to_stdout_and_html_to_a_file(brief_db: Path, tmp_path: Path
                                                         ) -> None:
    runner = CliRunner()
    md = runner.invoke(main, ["brief", "largest", "--db", str(brief_db)])
    assert md.exit_code == 0, md.output
    assert md.output.startswith("# Comms brief: Notion AI complaint spike, 13 Aug 2024 15:40")
    out = tmp_path / "brief.html"
    page = runner.invoke(main, ["brief", SPIKE_ID, "--format", "html", "--out", str(out),
                                "--db", str(brief_db)])
    assert page.exit_code == 0 and str(out) in page.output
    text = out.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script" not in text
    bad = runner.invoke(main, ["brief", "nope", "--db", str(brief_db)])
    assert bad.exit_code == 1 and bad.output.startswith("error: no spike or incident")
    assert "INCIDENT_OR_SPIKE" in runner.invoke(main, ["brief", "--help"]).output


def test_timeline_folds_updates_long_after_the_incident() -> None:
    late = UPDATES + (StatusUpdate(at(7 * 1440), "postmortem", "What went wrong"),)
    md = render_markdown(replace(FULL, updates=late))
    assert "What went wrong" not in md
    assert "| 20 Aug 15:40 | T+168 h 00 | 1 later update(s), first postmortem on 20 Aug 2024 |" in md
    assert "| 13 Aug 17:15 | T+95 |" in md
