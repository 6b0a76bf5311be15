"""Example queries offered on the SQL page, over the analyst views of docs/schema.md."""

EXAMPLES: dict[str, str] = {
    "Complaints per service and type": (
        "SELECT service, complaint_type, count(*) AS posts\n"
        "FROM posts WHERE is_complaint\nGROUP BY ALL ORDER BY posts DESC LIMIT 20"
    ),
    "Complaints per hour": (
        "SELECT date_trunc('hour', minute) AS hour, service, sum(posts) AS complaints\n"
        "FROM post_buckets WHERE is_complaint\nGROUP BY ALL ORDER BY hour"
    ),
    "Spikes and the incident that explains each": (
        "SELECT s.service, s.start, round(s.peak_rate, 1) AS peak_per_min,\n"
        "       round(s.expected_rate, 2) AS expected_per_min, l.provider, l.relation,\n"
        "       i.title, l.lead_minutes, round(l.confidence, 2) AS confidence\n"
        "FROM spikes s\n"
        "LEFT JOIN (SELECT * FROM incident_links QUALIFY row_number() OVER\n"
        "           (PARTITION BY spike_id ORDER BY confidence DESC) = 1) l USING (spike_id)\n"
        "LEFT JOIN incidents i USING (provider, incident_id)\n"
        "WHERE s.complaint_type IS NULL ORDER BY s.start"
    ),
    "Spikes no incident explains": (
        "SELECT service, start, \"end\", posts FROM spikes\n"
        "WHERE complaint_type IS NULL\n"
        "  AND spike_id NOT IN (SELECT spike_id FROM incident_links)"
    ),
    "Sentiment per day": (
        "SELECT date_trunc('day', minute) AS day, sentiment, sum(posts) AS posts\n"
        "FROM post_buckets GROUP BY ALL ORDER BY day, sentiment"
    ),
    "Why records were quarantined": (
        "SELECT source, split_part(reason, ':', 1) AS reason, count(*) AS records\n"
        "FROM quarantine GROUP BY ALL ORDER BY records DESC"
    ),
}
