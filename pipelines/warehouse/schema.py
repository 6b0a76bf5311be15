"""The warehouse schema as an ordered list of migrations. A migration is never edited once
shipped: a change to the schema is a new migration appended to MIGRATIONS."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


_V1 = """
CREATE TABLE raw_pages (
    source      VARCHAR NOT NULL,
    page_id     VARCHAR NOT NULL,      -- sha256 of the payload: the same page lands once
    format      VARCHAR NOT NULL,      -- post_jsonl | x_v2_page | reddit_listing | ...
    origin      VARCHAR,               -- file path and line range, or request URL
    payload     VARCHAR NOT NULL,      -- exactly as received
    received_at TIMESTAMPTZ NOT NULL,
    normalised_at TIMESTAMPTZ,
    PRIMARY KEY (source, page_id)
);

CREATE TABLE post_records (
    source           VARCHAR NOT NULL,
    id               VARCHAR NOT NULL,
    service          VARCHAR,
    created_at       TIMESTAMPTZ NOT NULL,
    text             VARCHAR NOT NULL,
    author           VARCHAR,
    author_followers BIGINT,
    likes            BIGINT,
    reposts          BIGINT,
    replies          BIGINT,
    quotes           BIGINT,
    lang             VARCHAR,
    url              VARCHAR,
    is_repost        BOOLEAN NOT NULL DEFAULT false,
    parent_id        VARCHAR,
    raw_page_id      VARCHAR,
    ingested_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, id)
);

CREATE TABLE classifications (
    source                VARCHAR NOT NULL,
    id                    VARCHAR NOT NULL,
    model_version         VARCHAR NOT NULL,
    sentiment             VARCHAR NOT NULL,
    sentiment_scores      JSON NOT NULL,
    is_complaint          BOOLEAN NOT NULL,
    complaint_probability DOUBLE NOT NULL,
    complaint_type        VARCHAR NOT NULL,
    complaint_scores      JSON NOT NULL,
    classified_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, id)
);

CREATE TABLE quarantine (
    source      VARCHAR NOT NULL,
    record_hash VARCHAR NOT NULL,      -- the same bad record is quarantined once
    record      VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    origin      VARCHAR,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, record_hash)
);

CREATE TABLE incidents (
    provider    VARCHAR NOT NULL,
    incident_id VARCHAR NOT NULL,
    title       VARCHAR NOT NULL,
    impact      VARCHAR,               -- none | minor | major | critical | maintenance
    status      VARCHAR,               -- latest update's status
    components  VARCHAR[],
    url         VARCHAR,
    created_at  TIMESTAMPTZ,
    started_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ,
    PRIMARY KEY (provider, incident_id)
);

CREATE TABLE incident_updates (
    provider    VARCHAR NOT NULL,
    incident_id VARCHAR NOT NULL,
    update_id   VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,
    body        VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, incident_id, update_id)
);

CREATE TABLE post_buckets (
    service        VARCHAR NOT NULL,
    minute         TIMESTAMPTZ NOT NULL,
    complaint_type VARCHAR NOT NULL,
    sentiment      VARCHAR NOT NULL,
    is_complaint   BOOLEAN NOT NULL,   -- the classifier's call; the taxonomy says which types are
    posts          BIGINT NOT NULL,
    reach          BIGINT NOT NULL,
    PRIMARY KEY (service, minute, complaint_type, sentiment, is_complaint)
);

CREATE TABLE spikes (
    spike_id       VARCHAR PRIMARY KEY,
    service        VARCHAR NOT NULL,
    complaint_type VARCHAR,            -- null: all complaints of the service
    start          TIMESTAMPTZ NOT NULL,
    peak           TIMESTAMPTZ NOT NULL,
    "end"          TIMESTAMPTZ NOT NULL,
    peak_rate      DOUBLE NOT NULL,    -- complaints per minute at the peak
    expected_rate  DOUBLE NOT NULL,    -- expected complaints per minute at the peak
    score          DOUBLE NOT NULL,
    posts          BIGINT NOT NULL
);

CREATE TABLE incident_links (
    spike_id        VARCHAR NOT NULL,
    incident_id     VARCHAR NOT NULL,
    provider        VARCHAR NOT NULL,
    service         VARCHAR NOT NULL,
    relation        VARCHAR NOT NULL,  -- own | upstream
    lead_minutes    DOUBLE NOT NULL,   -- incident start minus spike start; > 0: social first
    overlap_minutes DOUBLE NOT NULL,
    confidence      DOUBLE NOT NULL,
    PRIMARY KEY (spike_id, provider, incident_id)
);

CREATE TABLE pipeline_runs (
    run_id      VARCHAR PRIMARY KEY,
    flow        VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,
    summary     JSON
);

-- The analyst view: every post with its classification (null until classified).
CREATE VIEW posts AS
SELECT p.source, p.id, p.service, p.created_at, p.text, p.author, p.author_followers,
       p.likes, p.reposts, p.replies, p.quotes, p.lang, p.url, p.is_repost, p.parent_id,
       c.sentiment, c.sentiment_scores, c.is_complaint, c.complaint_probability,
       c.complaint_type, c.complaint_scores, c.model_version, c.classified_at
FROM post_records p
LEFT JOIN classifications c USING (source, id);
"""

# Checkpoints (since_id, cursors) of incremental sources, written in the same transaction as
# the posts they cover so that a crash never skips or repeats a page.
_V2 = """
CREATE TABLE source_checkpoints (
    source     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,        -- e.g. the query or subreddit the cursor belongs to
    value      VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, key)
);
"""

# Attribution and reaction (analysis/attribution, virality, switching, response): recomputed
# as a whole by `aftershock analyze`, like spikes and incident_links.
_V4 = """
CREATE TABLE incident_metrics (
    provider                VARCHAR NOT NULL,
    incident_id             VARCHAR NOT NULL,
    service                 VARCHAR,          -- null: no watched service depends on it
    relation                VARCHAR,          -- own | upstream
    started_at              TIMESTAMPTZ,
    first_complaint_at      TIMESTAMPTZ,      -- onset of the earliest linked spike
    first_update_at         TIMESTAMPTZ,      -- first status update
    resolved_at             TIMESTAMPTZ,
    recovered_at            TIMESTAMPTZ,      -- complaints back to expected
    minutes_to_first_update DOUBLE,           -- from the first complaint; > 0: social first
    minutes_to_resolution   DOUBLE,
    minutes_to_recovery     DOUBLE,
    linked_spikes           INTEGER NOT NULL,
    max_confidence          DOUBLE,
    complaints              BIGINT,
    silent                  BOOLEAN NOT NULL  -- no linked spike: no social reaction
);

CREATE TABLE spike_reaction (
    spike_id         VARCHAR PRIMARY KEY,
    service          VARCHAR NOT NULL,
    complaint_type   VARCHAR,
    posts            BIGINT NOT NULL,
    complaints       BIGINT NOT NULL,
    distinct_authors BIGINT NOT NULL,
    reposts          BIGINT NOT NULL,
    repost_records   BIGINT NOT NULL,
    quotes           BIGINT NOT NULL,
    likes            BIGINT NOT NULL,
    reach            BIGINT NOT NULL,         -- followers of the distinct posting authors
    velocity_per_min BIGINT NOT NULL,         -- most posts in one minute
    size_vs_median   DOUBLE,                  -- complaints / median of earlier spikes
    top_amplifiers   JSON NOT NULL,           -- [{author, followers, reposts, quotes, post_id}]
    explained        BOOLEAN NOT NULL         -- has an incident link
);

CREATE TABLE competitor_mentions (
    spike_id          VARCHAR NOT NULL,
    service           VARCHAR NOT NULL,
    competitor        VARCHAR NOT NULL,
    mentions          BIGINT NOT NULL,
    switching_intent  BIGINT NOT NULL,
    baseline_mentions BIGINT NOT NULL,        -- the same-length window before the spike
    baseline_switching_intent BIGINT NOT NULL,
    baseline_start    TIMESTAMPTZ NOT NULL,
    window_start      TIMESTAMPTZ NOT NULL,
    window_end        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (spike_id, competitor)
);

CREATE TABLE response_effects (
    spike_id             VARCHAR NOT NULL,
    service              VARCHAR NOT NULL,
    kind                 VARCHAR NOT NULL,    -- status_update | official_post
    provider             VARCHAR,             -- null for official posts
    incident_id          VARCHAR,
    update_id            VARCHAR NOT NULL,    -- the update's id, or the official post's id
    update_at            TIMESTAMPTZ NOT NULL,
    status               VARCHAR,
    window_minutes       INTEGER NOT NULL,
    complaints_before    BIGINT NOT NULL,
    complaints_after     BIGINT NOT NULL,
    rate_before          DOUBLE NOT NULL,     -- complaints per minute
    rate_after           DOUBLE NOT NULL,
    negative_share_before DOUBLE,
    negative_share_after DOUBLE,
    rate_change_pct      DOUBLE
);

-- Spikes that no incident on any status page the service depends on explains.
CREATE VIEW unexplained_spikes AS
SELECT s.spike_id, s.service, s.complaint_type, s.start, s.peak, s."end", s.peak_rate,
       s.expected_rate, s.score, s.posts, r.complaints, r.distinct_authors, r.reach,
       r.velocity_per_min, r.size_vs_median, r.top_amplifiers
FROM spikes s
LEFT JOIN spike_reaction r ON r.spike_id = s.spike_id
WHERE NOT EXISTS (SELECT 1 FROM incident_links l WHERE l.spike_id = s.spike_id);

-- Incidents with no social reaction on any watched service that depends on them.
CREATE VIEW silent_incidents AS
SELECT i.provider, i.incident_id, i.title, i.impact, i.started_at, i.resolved_at,
       list(m.service ORDER BY m.service) FILTER (WHERE m.service IS NOT NULL) AS services,
       sum(m.complaints) AS complaints
FROM incidents i
JOIN incident_metrics m ON m.provider = i.provider AND m.incident_id = i.incident_id
GROUP BY ALL
HAVING bool_and(m.silent);
"""

# Post volume per time bucket from sources that count without fetching (X's recent tweet
# counts, landed as raw pages of format x_counts with origin "x counts SERVICE: QUERY"). A view,
# so it is re-derived from the landed pages and never needs a writer; a bucket counted again
# (the last one is still filling when fetched) shows its latest count.
_V3 = """
CREATE VIEW source_volume AS
WITH pages AS (
    SELECT source, page_id, received_at, payload,
           regexp_extract(origin, '^x counts (.+?): (.*)$', ['service', 'query']) AS o
    FROM raw_pages
    WHERE format = 'x_counts' AND json_valid(payload)
), buckets AS (
    SELECT source, page_id, received_at, o.service AS service, o.query AS query,
           unnest(CASE WHEN json_type(payload, '$.data') = 'ARRAY'
                       THEN json_extract(payload, '$.data[*]') END) AS b
    FROM pages
)
SELECT source, service, query,
       TRY_CAST(b ->> 'start' AS TIMESTAMPTZ) AS start,
       TRY_CAST(b ->> 'end' AS TIMESTAMPTZ) AS "end",
       TRY_CAST(b ->> 'tweet_count' AS BIGINT) AS posts,
       received_at
FROM buckets
WHERE start IS NOT NULL AND "end" IS NOT NULL AND posts >= 0
QUALIFY row_number() OVER (PARTITION BY source, service, query, start, "end"
                           ORDER BY received_at DESC, page_id DESC) = 1;
"""

# Complaint themes per spike (analysis/themes, pipelines/themes_step): recomputed as a whole by
# `aftershock analyze`.
_V5 = """
CREATE TABLE spike_themes (
    spike_id              VARCHAR NOT NULL,
    theme_id              INTEGER NOT NULL,  -- 1: the largest theme of the spike
    label                 VARCHAR NOT NULL,  -- its most distinctive terms
    posts                 BIGINT NOT NULL,   -- complaints in the theme, reposts included
    distinct_texts        BIGINT NOT NULL,   -- after collapsing (near-)identical texts
    share                 DOUBLE NOT NULL,   -- posts / the spike's complaints considered
    representative_id     VARCHAR NOT NULL,
    representative_source VARCHAR NOT NULL,
    representative_text   VARCHAR NOT NULL,
    sample_ids            JSON NOT NULL,     -- [{source, id}] of further posts, nearest first
    PRIMARY KEY (spike_id, theme_id)
);
"""

# The current state of each Statuspage provider's page (summary.json / components.json), for
# the dashboard's "Now" view; replaced on every poll, unlike the incident history.
_V6 = """
CREATE TABLE provider_components (
    provider              VARCHAR NOT NULL,
    component_id          VARCHAR NOT NULL,
    name                  VARCHAR NOT NULL,
    status                VARCHAR NOT NULL,  -- operational | degraded_performance |
                                             -- partial_outage | major_outage | under_maintenance
    group_name            VARCHAR,           -- the component group it is shown under
    position              INTEGER,
    only_show_if_degraded BOOLEAN,
    updated_at            TIMESTAMPTZ,       -- when the provider last changed it
    polled_at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, component_id)
);

CREATE TABLE provider_status (
    provider          VARCHAR PRIMARY KEY,
    indicator         VARCHAR NOT NULL,      -- none | minor | major | critical
    description       VARCHAR,               -- e.g. "Partial System Outage"
    updated_at        TIMESTAMPTZ,           -- the page's updated_at
    polled_at         TIMESTAMPTZ NOT NULL,
    history_polled_at TIMESTAMPTZ            -- last fetch of incidents.json
);
"""

# Spike detection as it streams: when the detector fired, which test fired (a sudden burst or
# a slow climb), and whether the spike is many people or one post's reposts and copies.
_V7 = """
ALTER TABLE spikes ADD COLUMN flagged TIMESTAMPTZ;        -- when the streaming detector fired
ALTER TABLE spikes ADD COLUMN kind VARCHAR;               -- burst | climb
ALTER TABLE spikes ADD COLUMN independent_posts BIGINT;   -- not reposts, copies or repeats
ALTER TABLE spikes ADD COLUMN viral BOOLEAN;              -- excess mostly reposts / copies
"""

# Alerts (analysis/alerting, pipelines/alerts): one row per alert and channel, so a re-run
# never re-sends and a failed channel is retried alone. Never holds a webhook URL or password.
_V8 = """
CREATE TABLE alerts_sent (
    spike_id        VARCHAR NOT NULL,  -- or digest:<time> for a digest of alerts over the cap
    kind            VARCHAR NOT NULL,  -- new | escalated | explained | recovered | digest
    level           INTEGER NOT NULL,  -- 0, or the escalation's sequence number (1, 2, ...)
    channel         VARCHAR NOT NULL,  -- slack | webhook | email | digest (summarised)
    sent_at         TIMESTAMPTZ NOT NULL,  -- when the alert was decided and first sent
    ok              BOOLEAN NOT NULL,
    error           VARCHAR,           -- the last attempt's failure, secrets redacted
    attempts        INTEGER NOT NULL,
    last_attempt_at TIMESTAMPTZ NOT NULL,
    rung            INTEGER NOT NULL,  -- thresholds of the ladder the peak had reached
    complaints      BIGINT NOT NULL,   -- the spike's complaints when decided
    incident        VARCHAR,           -- provider:incident_id the alert named
    payload         JSON NOT NULL,     -- what this channel was sent
    PRIMARY KEY (spike_id, kind, level, channel)
);
"""

# The classifier says when it is unsure and when a post's language is one it does not read well
# (docs/model-card.md); null for rows classified before this migration.
_V9 = """
ALTER TABLE classifications ADD COLUMN uncertain BOOLEAN;
ALTER TABLE classifications ADD COLUMN language VARCHAR;
ALTER TABLE classifications ADD COLUMN unsupported_language BOOLEAN;

CREATE OR REPLACE VIEW posts AS
SELECT p.source, p.id, p.service, p.created_at, p.text, p.author, p.author_followers,
       p.likes, p.reposts, p.replies, p.quotes, p.lang, p.url, p.is_repost, p.parent_id,
       c.sentiment, c.sentiment_scores, c.is_complaint, c.complaint_probability,
       c.complaint_type, c.complaint_scores, c.model_version, c.classified_at,
       c.uncertain, c.language, c.unsupported_language
FROM post_records p
LEFT JOIN classifications c USING (source, id);
"""

# Themes are recomputed only for spikes whose clustered posts changed (the encoder is the slow
# part of analyze): each theme row keeps the signature of its spike's posts.
_V10 = """
ALTER TABLE spike_themes ADD COLUMN posts_signature VARCHAR;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1),
    Migration(2, "source checkpoints", _V2),
    Migration(3, "source volume view (X tweet counts)", _V3),
    Migration(4, "incident metrics, spike reaction, competitor mentions, response effects", _V4),
    Migration(5, "spike themes", _V5),
    Migration(6, "provider components and page status", _V6),
    Migration(7, "spike flag time, kind and virality", _V7),
    Migration(8, "alerts sent", _V8),
    Migration(9, "classification uncertainty and language flags", _V9),
    Migration(10, "spike themes keep the signature of the posts they cluster", _V10),
)

LATEST_VERSION = MIGRATIONS[-1].version
