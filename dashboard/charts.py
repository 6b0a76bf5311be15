"""Altair chart specs for the dashboard: DataFrames in (already aggregated by DuckDB), charts
out. Colours are colour-blind safe: the Okabe-Ito palette plus four of Paul Tol's colours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import altair as alt
import pandas as pd

# One fixed colour per label of the taxonomy, so a label keeps its colour across services,
# time ranges and pages. Okabe-Ito's eight, then Tol's indigo/wine/teal/olive.
COMPLAINT_COLOURS: dict[str, str] = {
    "outage": "#D55E00",  # vermillion
    "errors": "#E69F00",  # orange
    "slowness": "#F0E442",  # yellow
    "access": "#0072B2",  # blue
    "data_loss": "#000000",  # black
    "quality": "#CC79A7",  # reddish purple
    "billing": "#009E73",  # bluish green
    "switching": "#56B4E9",  # sky blue
    "communication": "#882255",  # wine
    "humor": "#999933",  # olive
    "praise": "#44AA99",  # teal
    "none": "#BBBBBB",  # grey
}
# For labels a user added to the taxonomy: colours not used above.
SPARE_COLOURS = ("#332288", "#DDCC77", "#117733", "#AA4499", "#88CCEE", "#661100")
SENTIMENT_COLOURS: dict[str, str] = {
    "negative": "#D55E00",
    "neutral": "#BBBBBB",
    "positive": "#009E73",
}
# Okabe-Ito, for series whose labels are not known in advance (the SQL page's charts).
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000")
BAND_COLOUR = "#0072B2"
MAX_LABELLED_BANDS = 8
LABEL_LANES = 3
HEIGHT = 300


def colour_scale(labels: Sequence[str], known: dict[str, str]) -> alt.Scale:
    """A colour scale over the labels present: known labels in taxonomy order with their
    fixed colours, then unknown labels with spare colours."""
    ordered = [k for k in known if k in labels] + sorted(set(labels) - set(known))
    spare = iter(SPARE_COLOURS * (len(ordered) // len(SPARE_COLOURS) + 1))
    return alt.Scale(domain=ordered, range=[known.get(k) or next(spare) for k in ordered])


def complaints_chart(
    series: pd.DataFrame,
    bands: pd.DataFrame,
    spikes: pd.DataFrame,
    domain: tuple[datetime, datetime],
    bucket_minutes: int,
    updates: pd.DataFrame | None = None,
) -> alt.LayerChart:
    """Stacked complaints per minute by type, incident bands behind, spike markers on top;
    with `updates`, each status update as a marker and each spike's expected rate as a
    dashed line over its duration (the expected band)."""
    scale = colour_scale(list(series["complaint_type"].unique()), COMPLAINT_COLOURS)
    area = (
        alt.Chart(series)
        .mark_area(interpolate="step-after", opacity=0.9)
        .encode(
            x=_time_x("time", domain),
            y=_rate_y("rate", bucket_minutes, stack=True),
            color=alt.Color("complaint_type:N", scale=scale, title="complaint type",
                            sort=scale.domain),
            tooltip=[
                alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("complaint_type:N", title="type"),
                alt.Tooltip("complaints:Q", title="complaints in bucket"),
                alt.Tooltip("rate:Q", title="per minute", format=".2f"),
            ],
        )
    )
    layers = [*_band_layers(bands), area, *_spike_layers(spikes, bucket_minutes)]
    if updates is not None:
        layers += [*_expected_layers(spikes, bucket_minutes), *_update_layers(updates)]
    return alt.LayerChart(layer=layers, height=HEIGHT)


def _expected_layers(spikes: pd.DataFrame, bucket_minutes: int) -> list[alt.Chart]:
    """Each spike's expected complaints per minute, drawn across the spike."""
    if spikes.empty:
        return []
    line = alt.Chart(spikes).mark_rule(color="#000000", strokeDash=[2, 2], strokeWidth=2)
    return [line.encode(
        x=_time_x("start"), x2="end:T", y=_rate_y("expected_rate", bucket_minutes),
        tooltip=[alt.Tooltip("expected_rate:Q", title="expected / min", format=".2f")],
    )]


def _update_layers(updates: pd.DataFrame) -> list[alt.Chart]:
    """A diamond at the bottom of the chart for each status update, with its text."""
    if updates.empty:
        return []
    marker = alt.Chart(updates).mark_point(shape="diamond", filled=True, size=90,
                                           color=BAND_COLOUR)
    return [marker.encode(
        x=_time_x("time"), y=alt.value(HEIGHT - 6),
        tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("label:N", title="update"),
                 alt.Tooltip("body:N", title="text")],
    )]


def competitors_chart(mentions: pd.DataFrame) -> alt.Chart:
    """Mentions of each competitor during the spike against the same-length window before."""
    data = mentions.melt(id_vars="competitor",
                         value_vars=["baseline_mentions", "mentions", "switching_intent"],
                         var_name="window", value_name="posts")
    names = {"baseline_mentions": "before the spike", "mentions": "during the spike",
             "switching_intent": "with switching intent"}
    data["window"] = data["window"].map(names)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("competitor:N", title=None),
            yOffset=alt.YOffset("window:N", sort=list(names.values())),
            x=alt.X("posts:Q", title="posts mentioning it"),
            color=alt.Color("window:N", sort=list(names.values()), title=None,
                            scale=alt.Scale(range=["#BBBBBB", "#0072B2", "#D55E00"])),
            tooltip=["competitor:N", "window:N", "posts:Q"],
        )
        .properties(height=alt.Step(12))
    )


def _rate_y(field: str, bucket_minutes: int, stack: bool = False) -> alt.Y:
    """The complaints-per-minute axis, shared by the areas and the spike markers."""
    return alt.Y(
        f"{field}:Q",
        stack="zero" if stack else None,
        title=f"complaints / min ({bucket_minutes}-min buckets)",
    )


def posts_chart(series: pd.DataFrame, bands: pd.DataFrame, domain: tuple[datetime, datetime],
                bucket_minutes: int) -> alt.LayerChart:
    """Posts per minute, for warehouses whose posts are not classified yet."""
    area = (
        alt.Chart(series)
        .mark_area(interpolate="step-after", color="#56B4E9")
        .encode(
            x=_time_x("time", domain),
            y=alt.Y("rate:Q", title=f"posts / min ({bucket_minutes}-min buckets)"),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
                     alt.Tooltip("posts:Q", title="posts in bucket")],
        )
    )
    return alt.LayerChart(layer=[*_band_layers(bands), area], height=HEIGHT)


def sentiment_chart(series: pd.DataFrame, domain: tuple[datetime, datetime]) -> alt.Chart:
    """Share of negative / neutral / positive posts per bucket, stacked to 100 %, each bucket
    a rectangle from its start to its end: a bucket without posts stays blank."""
    scale = colour_scale(list(series["sentiment"].unique()), SENTIMENT_COLOURS)
    return (
        alt.Chart(series)
        .transform_calculate(
            # Negative at the bottom, where the eye compares it across time.
            sentiment_order="indexof(['negative', 'neutral', 'positive'], datum.sentiment)"
        )
        .transform_stack(
            stack="share", groupby=["time"], as_=["share_lo", "share_hi"],
            sort=[alt.SortField("sentiment_order")], offset="normalize",
        )
        .mark_rect()
        .encode(
            x=_time_x("time", domain),
            x2="time_end:T",
            y=alt.Y("share_lo:Q", title="share of posts", axis=alt.Axis(format="%")),
            y2="share_hi:Q",
            color=alt.Color("sentiment:N", scale=scale, sort=scale.domain),
            tooltip=[
                alt.Tooltip("time:T", format="%Y-%m-%d %H:%M", title="from"),
                "sentiment:N",
                alt.Tooltip("share:Q", format=".0%"),
                alt.Tooltip("posts:Q"),
            ],
        )
        .properties(height=200)
    )


def _band_layers(bands: pd.DataFrame) -> list[alt.Chart]:
    """Incident bands (start to resolution). With few incidents each gets a 'provider: title'
    label above the plot, in one of LABEL_LANES staggered rows so neighbours do not collide;
    with many, labels would only overlap, so the bands keep just their tooltips."""
    if bands.empty:
        return []
    base = alt.Chart(bands)
    rect = base.mark_rect(color=BAND_COLOUR, opacity=0.12).encode(
        x=_time_x("start"),
        x2="end:T",
        tooltip=[
            alt.Tooltip("label:N", title="incident"),
            "impact:N",
            alt.Tooltip("start:T", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("end:T", format="%Y-%m-%d %H:%M"),
        ],
    )
    edge = base.mark_rule(color=BAND_COLOUR, opacity=0.6).encode(x=_time_x("start"))
    if len(bands) > MAX_LABELLED_BANDS:
        return [rect, edge]
    lanes = base.transform_window(
        order="row_number()", sort=[alt.SortField("start")]
    ).transform_calculate(lane=f"(datum.order - 1) % {LABEL_LANES}")
    labels = [
        lanes.transform_filter(alt.datum.lane == lane)
        .mark_text(align="left", baseline="bottom", dx=2, dy=-9 - 13 * lane, fontSize=11,
                   color=BAND_COLOUR, limit=220)
        .encode(x=_time_x("start"), y=alt.value(0), text="label:N")
        for lane in range(min(LABEL_LANES, len(bands)))
    ]
    return [rect, edge, *labels]


def _time_x(field: str, domain: tuple[datetime, datetime] | None = None) -> alt.X:
    """The time axis. Layers share one scale, so only the main layer pins the domain to the
    picked window (pinning it in every layer makes Vega-Lite warn about conflicts)."""
    scale = (
        alt.Scale(domainMin=_vl_datetime(domain[0]), domainMax=_vl_datetime(domain[1]))
        if domain else alt.Undefined
    )
    return alt.X(f"{field}:T", scale=scale, title=None, axis=_time_axis())


def _vl_datetime(d: datetime) -> alt.DateTime:
    """A naive local time as Vega-Lite's DateTime, read in the browser's local time like the
    naive data times, whatever the browser's time zone."""
    return alt.DateTime(year=d.year, month=d.month, date=d.day, hours=d.hour,
                        minutes=d.minute, seconds=d.second)


def _time_axis() -> alt.Axis:
    """About ten ticks at Vega's nice time intervals, labelled with the date at midnight and
    the time otherwise (by default Vega drops every other label, often the dates)."""
    return alt.Axis(
        tickCount=10,
        labelExpr=(
            "hours(datum.value) == 0 && minutes(datum.value) == 0"
            " ? timeFormat(datum.value, '%b %d') : timeFormat(datum.value, '%H:%M')"
        ),
    )


def _spike_layers(spikes: pd.DataFrame, bucket_minutes: int) -> list[alt.Chart]:
    """A dashed rule at each spike's peak and a marker at its peak rate."""
    if spikes.empty:
        return []
    spikes = spikes.assign(incident=spikes["incident"].fillna("no linked incident"))
    tooltip = [
        alt.Tooltip("peak:T", format="%Y-%m-%d %H:%M"),
        alt.Tooltip("peak_rate:Q", title="complaints / min at peak", format=".1f"),
        alt.Tooltip("expected_rate:Q", title="expected / min", format=".1f"),
        alt.Tooltip("score:Q", format=".1f"),
        alt.Tooltip("incident:N", title="linked incident"),
        alt.Tooltip("lead_minutes:Q", title="lead (min)", format=".0f"),
    ]
    base = alt.Chart(spikes)
    rule = base.mark_rule(color="#000000", strokeDash=[4, 3]).encode(
        x=_time_x("peak"), tooltip=tooltip
    )
    marker = base.mark_point(
        shape="triangle-down", filled=True, size=80, color="#000000", yOffset=-4
    ).encode(
        x=_time_x("peak"),
        y=_rate_y("peak_rate", bucket_minutes),
        tooltip=tooltip,
    )
    return [rule, marker]


def recent_chart(series: pd.DataFrame, names: dict[str, str]) -> alt.Chart:
    """Complaints per minute of every service over the last hours, one line each."""
    data = series.assign(name=series["service"].map(lambda s: names.get(s, s)))
    return (
        alt.Chart(data)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("time:T", title=None, axis=_time_axis()),
            y=alt.Y("rate:Q", title="complaints / min"),
            color=alt.Color("name:N", title="service",
                            scale=alt.Scale(range=list(OKABE_ITO))),
            tooltip=[alt.Tooltip("name:N", title="service"),
                     alt.Tooltip("time:T", format="%H:%M"),
                     alt.Tooltip("rate:Q", format=".1f", title="complaints / min")],
        )
        .properties(height=220)
    )


def history_chart(incidents: pd.DataFrame) -> alt.Chart:
    """Incidents as dots: complaints against social lead time, sized by peak ratio."""
    data = incidents.assign(peak_ratio=incidents["peak_ratio"].fillna(1.0))
    return (
        alt.Chart(data)
        .mark_circle(opacity=0.75)
        .encode(
            x=alt.X("lead_minutes:Q", title="social lead over the status page (min)"),
            y=alt.Y("complaints:Q", title="complaints", scale=alt.Scale(type="symlog")),
            size=alt.Size("peak_ratio:Q", title="peak vs expected"),
            color=alt.Color("name:N", title="service", scale=alt.Scale(range=list(OKABE_ITO))),
            tooltip=["name:N", "provider:N", "title:N",
                     alt.Tooltip("started:T", format="%Y-%m-%d %H:%M"), "complaints:Q",
                     alt.Tooltip("peak_ratio:Q", format=".1f"),
                     alt.Tooltip("lead_minutes:Q", format=".0f"), "rank:Q"],
        )
        .properties(height=320)
    )
