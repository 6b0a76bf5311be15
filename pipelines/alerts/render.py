"""Alert messages for each channel: Slack Block Kit (incoming webhook), the generic JSON webhook
(schema `aftershock.alert/1`, docs/alerts.md) and email (plain text + HTML).

Post text, authors, incident titles and service names are data, some of it typed by strangers:
every renderer shows them as text. Slack mrkdwn gets & < > as entities and its formatting
characters defused; HTML gets html.escape; plain text gets one line without control characters
(a post cannot fake a line of the alert). The JSON webhook carries the raw values: its consumer
decides how to display them (docs/alerts.md says so)."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from analysis.alerting import ESCALATED, EXPLAINED, NEW, RECOVERED, Alert, IncidentLink

WEBHOOK_SCHEMA = "aftershock.alert/1"
POST_CHARS = 280
TOP_POSTS = 3
DIGEST_LINES = 20  # spikes listed by name in a digest; the rest are counted
_SLACK_FORMATTING = re.compile(r"([*_~`])")
_ZWSP = "\u200b"


@dataclass(frozen=True)
class TopPost:
    source: str
    id: str
    author: str | None
    text: str
    url: str | None
    followers: int
    reposts: int
    likes: int


@dataclass(frozen=True)
class AlertContent:
    """Everything an alert message says, gathered from the warehouse and the config."""

    alert: Alert
    service_name: str
    provider_name: str | None
    top_posts: tuple[TopPost, ...]
    link: str                       # the dashboard's Incident page for this spike
    reach: int | None = None
    distinct_authors: int | None = None
    size_vs_median: float | None = None


@dataclass(frozen=True)
class DigestEntry:
    alert: Alert
    service_name: str
    link: str


# -- text helpers -----------------------------------------------------------------------------

def one_line(text: str) -> str:
    """Control and format characters (newlines, bidi overrides) removed, whitespace collapsed."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in text)
    return " ".join(kept.split())


def clip(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def escape_mrkdwn(text: str) -> str:
    """Text shown literally in Slack mrkdwn: & < > as the entities Slack decodes (no links,
    mentions or quotes), and each of * _ ~ ` between zero-width spaces, so it can neither open
    nor close emphasis, strike or code (mrkdwn has no backslash escape)."""
    text = one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SLACK_FORMATTING.sub(_ZWSP + r"\1" + _ZWSP, text)


def escape_html(text: str) -> str:
    return html.escape(one_line(text), quote=True)


def dashboard_link(base_url: str, spike_id: str) -> str:
    return f"{base_url.rstrip('/')}/incident?spike={quote(spike_id, safe='')}"


def _n(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}".rstrip("0").rstrip(".")


def _ratio(value: float) -> str:
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x"


def _clock(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


# -- the words of a message ---------------------------------------------------------------------

def what(c: AlertContent) -> str:
    ctype = c.alert.spike.complaint_type
    return f"{c.service_name} ({ctype.replace('_', ' ')} complaints)" if ctype else c.service_name


def headline(c: AlertContent) -> str:
    s = c.alert.spike
    name = what(c)
    if c.alert.kind == NEW:
        return f"Complaint spike: {name}, {_ratio(s.ratio)} expected"
    if c.alert.kind == ESCALATED:
        return f"Complaint spike growing: {name}, now {_ratio(s.ratio)} expected"
    if c.alert.kind == EXPLAINED and s.link is not None:
        provider = c.provider_name or s.link.provider
        return f"Complaint spike explained: {name}, {s.link.relation} incident at {provider}"
    if c.alert.kind == RECOVERED:
        return f"Complaint spike over: {name}, back to expected"
    return f"Complaint spike: {name}"


def size_line(c: AlertContent) -> str:
    s = c.alert.spike
    rates = (f"{_n(s.peak_rate)} complaints/min at the peak vs {_n(s.expected_rate)} expected "
             f"({_ratio(s.ratio)})")
    parts = [rates, f"{s.complaints:,} complaints since {_clock(s.start)}"]
    if c.size_vs_median is not None:
        parts.append(f"{_ratio(c.size_vs_median)} the median earlier spike")
    if c.reach:
        parts.append(f"reach {c.reach:,} followers")
    return "; ".join(parts)


def status_line(c: AlertContent) -> str:
    s = c.alert.spike
    if s.ended:
        return (f"Over: back to expected after {_minutes(s.end - s.start + timedelta(minutes=1))}"
                f" (last above expected at {_clock(s.end)}).")
    return f"Ongoing: peak at {_clock(s.peak)}, still above expected at {_clock(s.end)}."


def incident_line(link: IncidentLink | None, provider_name: str | None) -> str:
    if link is None:
        return "No incident on the status pages it depends on explains it (yet)."
    who = provider_name or link.provider
    title = f": {link.title}" if link.title else ""
    lead = abs(round(link.lead_minutes))
    if link.lead_minutes > 0:
        when = f"social media saw it {lead} min before the status page"
    elif link.lead_minutes < 0:
        when = f"the status page spoke {lead} min before complaints rose"
    else:
        when = "status page and complaints started together"
    return (f"{link.relation.capitalize()} incident at {who} ({link.incident_id}){title}; "
            f"{when}; confidence {link.confidence:.2f}.")


def status_page_url(link: IncidentLink | None) -> str | None:
    """The incident's page on the provider's status site, if it is a web address."""
    if link is None or not link.url:
        return None
    return link.url if urlsplit(link.url).scheme in ("http", "https") else None


def post_credit(p: TopPost) -> str:
    author = p.author or "unknown author"
    return f"{author} on {p.source}, {p.reposts:,} reposts, {p.likes:,} likes"


def summary(c: AlertContent) -> str:
    """One plain line: the headline and the reason."""
    return f"{headline(c)} ({c.alert.reason})"


# -- Slack --------------------------------------------------------------------------------------

def slack_payload(c: AlertContent) -> dict[str, Any]:
    incident = escape_mrkdwn(incident_line(c.alert.spike.link, c.provider_name))
    page = status_page_url(c.alert.spike.link)
    if page is not None:
        incident += f" <{_slack_url(page)}|Status page>"
    facts = "\n".join([
        f"*Why now:* {escape_mrkdwn(c.alert.reason)}",
        f"*Size:* {escape_mrkdwn(size_line(c))}",
        f"*Status:* {escape_mrkdwn(status_line(c))}",
        f"*Incident:* {incident}",
    ])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline(c), 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
    ]
    if c.top_posts:
        quotes = "\n".join(
            f"> {escape_mrkdwn(clip(p.text, POST_CHARS))}\n_{escape_mrkdwn(post_credit(p))}_"
            for p in c.top_posts)
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": f"*Top posts*\n{quotes}"}})
    blocks += [
        {"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the incident page"},
            "url": c.link}]},
        {"type": "context", "elements": [{
            "type": "mrkdwn",
            "text": f"Aftershock {c.alert.kind} alert · spike {escape_mrkdwn(c.alert.spike.spike_id)}"
                    f" · <{_slack_url(c.link)}|dashboard>"}]},
    ]
    return {"text": escape_mrkdwn(summary(c)), "blocks": blocks}


def slack_digest(entries: list[DigestEntry], total: int) -> dict[str, Any]:
    lines = [f"• {escape_mrkdwn(_digest_line(e))} <{_slack_url(e.link)}|open>"
             for e in entries[:DIGEST_LINES]]
    more = total - min(len(entries), DIGEST_LINES)
    if more > 0:
        lines.append(f"… and {more} more")
    title = digest_title(total)
    return {"text": escape_mrkdwn(title), "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
    ]}


def _slack_url(url: str) -> str:
    # Inside <url|label> only & < > | would break out; quote() already left none in the spike id.
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


def digest_title(total: int) -> str:
    return f"Aftershock: {total} more spike alerts this run (over the per-run cap)"


def _digest_line(e: DigestEntry) -> str:
    s = e.alert.spike
    return f"{e.alert.kind}: {e.service_name}, {_ratio(s.ratio)} expected, {s.complaints:,} " \
           f"complaints since {_clock(s.start)}"


# -- generic JSON webhook -----------------------------------------------------------------------

def webhook_payload(c: AlertContent, sent_at: datetime) -> dict[str, Any]:
    s, link = c.alert.spike, c.alert.spike.link
    return {
        "schema": WEBHOOK_SCHEMA,
        "kind": c.alert.kind,
        "level": c.alert.level,
        "reason": c.alert.reason,
        "summary": summary(c),
        "sent_at": sent_at.isoformat(),
        "dashboard_url": c.link,
        "spike": {
            "id": s.spike_id, "service": s.service, "service_name": c.service_name,
            "complaint_type": s.complaint_type, "start": s.start.isoformat(),
            "peak": s.peak.isoformat(), "end": s.end.isoformat(), "ended": s.ended,
            "peak_rate": s.peak_rate, "expected_rate": s.expected_rate, "ratio": s.ratio,
            "rung": c.alert.rung, "complaints": s.complaints, "reach": c.reach,
            "distinct_authors": c.distinct_authors, "size_vs_median": c.size_vs_median,
        },
        "incident": None if link is None else {
            "provider": link.provider, "provider_name": c.provider_name,
            "incident_id": link.incident_id, "title": link.title, "url": link.url,
            "impact": link.impact, "relation": link.relation,
            "lead_minutes": link.lead_minutes, "confidence": link.confidence,
        },
        "top_posts": [{"source": p.source, "id": p.id, "author": p.author, "text": p.text,
                       "url": p.url, "followers": p.followers, "reposts": p.reposts,
                       "likes": p.likes} for p in c.top_posts],
    }


def webhook_digest(entries: list[DigestEntry], total: int, sent_at: datetime
                   ) -> dict[str, Any]:
    return {
        "schema": WEBHOOK_SCHEMA, "kind": "digest", "summary": digest_title(total),
        "sent_at": sent_at.isoformat(), "total": total,
        "alerts": [{"kind": e.alert.kind, "spike_id": e.alert.spike.spike_id,
                    "service": e.alert.spike.service, "service_name": e.service_name,
                    "ratio": e.alert.spike.ratio, "complaints": e.alert.spike.complaints,
                    "dashboard_url": e.link} for e in entries],
    }


# -- email --------------------------------------------------------------------------------------

def email_payload(c: AlertContent) -> dict[str, str]:
    """subject, text and html of the alert email."""
    incident = incident_line(c.alert.spike.link, c.provider_name)
    text_lines = [one_line(headline(c)), "",
                  f"Why now: {one_line(c.alert.reason)}",
                  f"Size: {one_line(size_line(c))}",
                  f"Status: {one_line(status_line(c))}",
                  f"Incident: {one_line(incident)}"]
    page_url = status_page_url(c.alert.spike.link)
    if page_url is not None:
        text_lines.append(f"Status page: {one_line(page_url)}")
    text_lines.append("")
    if c.top_posts:
        text_lines.append("Top posts:")
        for p in c.top_posts:
            text_lines += [f'  "{clip(p.text, POST_CHARS)}"', f"    ({one_line(post_credit(p))})"]
        text_lines.append("")
    text_lines += [f"Open the incident page: {c.link}", "",
                   f"Aftershock {c.alert.kind} alert, spike {one_line(c.alert.spike.spike_id)}"]
    posts_html = "".join(
        f'<blockquote style="margin:8px 0;padding-left:8px;border-left:3px solid #ccc">'
        f"{escape_html(clip(p.text, POST_CHARS))}<br><small>{escape_html(post_credit(p))}"
        f"</small></blockquote>" for p in c.top_posts)
    body = "".join(f"<p><b>{label}:</b> {escape_html(value)}</p>" for label, value in [
        ("Why now", c.alert.reason), ("Size", size_line(c)), ("Status", status_line(c)),
        ("Incident", incident)])
    if page_url is not None:
        body += f'<p><a href="{html.escape(page_url, quote=True)}">Status page</a></p>'
    top = f"<h3>Top posts</h3>{posts_html}" if posts_html else ""
    document = (f"<!DOCTYPE html><html><body style=\"font-family:sans-serif\">"
                f"<h2>{escape_html(headline(c))}</h2>{body}{top}"
                f'<p><a href="{html.escape(c.link, quote=True)}">Open the incident page</a></p>'
                f"<p><small>Aftershock {escape_html(c.alert.kind)} alert, spike "
                f"{escape_html(c.alert.spike.spike_id)}</small></p></body></html>")
    return {"subject": clip(f"[Aftershock] {headline(c)}", 200), "text": "\n".join(text_lines),
            "html": document}


def email_digest(entries: list[DigestEntry], total: int) -> dict[str, str]:
    shown = entries[:DIGEST_LINES]
    more = total - len(shown)
    text = [digest_title(total), ""] + [f"- {one_line(_digest_line(e))}: {e.link}"
                                        for e in shown]
    items = "".join(f'<li>{escape_html(_digest_line(e))} '
                    f'(<a href="{html.escape(e.link, quote=True)}">open</a>)</li>' for e in shown)
    if more > 0:
        text.append(f"... and {more} more")
        items += f"<li>… and {more} more</li>"
    page = (f"<!DOCTYPE html><html><body style=\"font-family:sans-serif\">"
            f"<h2>{escape_html(digest_title(total))}</h2><ul>{items}</ul></body></html>")
    return {"subject": f"[Aftershock] {digest_title(total)}", "text": "\n".join(text),
            "html": page}
