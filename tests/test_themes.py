"""Themes on tiny hand-made inputs: texts with embeddings placed by hand around a few axes, so
the right clusters, representatives and labels are known in advance."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.themes import ThemeParams, dedupe_key, duplicate_groups, find_themes

DIM = 8


def around(axis: int, wobble: float = 0.0, second: int = 7) -> list[float]:
    """A unit-ish vector on `axis`, tilted by `wobble` towards axis `second`."""
    v = np.zeros(DIM)
    v[axis] = 1.0
    v[second] = wobble
    return list(v / np.linalg.norm(v))


LOGIN = [
    ("cannot login to notion, the login page just spins", around(0)),
    ("login fails every time, stuck on the login screen", around(0, 0.6)),
    ("notion login broken? locked out since lunch", around(0, -0.6)),
]
BILLING = [
    ("charged twice this month, billing support silent", around(1)),
    ("why did my invoice double, billing is a mess", around(1, 0.6)),
    ("refund please, the billing page charged my card twice", around(1, -0.6)),
]
SWITCHING = [
    ("moving our team wiki to coda tonight", around(2)),
    ("that's it, switching to coda for good", around(2, 0.6)),
    ("coda import works fine, bye notion", around(2, -0.6)),
]
STATUS = [
    ("status page still green while everything is down", around(3)),
    ("who updates the status page? still says operational", around(3, 0.6)),
    ("status page lies, all systems operational my foot", around(3, -0.6)),
]


def split(rows: list[tuple[str, list[float]]]) -> tuple[list[str], np.ndarray]:
    return [t for t, _ in rows], np.array([e for _, e in rows])


@pytest.mark.parametrize("topics, expected", [
    ([LOGIN, BILLING], 2),
    ([LOGIN, BILLING, SWITCHING], 3),
    ([LOGIN, BILLING, SWITCHING, STATUS], 4),
])
def test_number_of_themes_comes_from_the_data(topics: list[list], expected: int) -> None:
    texts, vectors = split([row for topic in topics for row in topic])
    themes = find_themes(texts, vectors)
    assert len(themes) == expected
    # Every theme holds exactly one topic's three posts.
    for theme in themes:
        members = {theme.representative, *theme.samples}
        assert len({i // 3 for i in members}) == 1
        assert theme.posts == 3 and theme.distinct_texts == 3


def test_representative_is_the_post_nearest_the_centre_and_labels_are_distinctive() -> None:
    texts, vectors = split(LOGIN + BILLING + SWITCHING)
    themes = {t.representative: t for t in find_themes(texts, vectors, ignore_terms=["Notion"])}
    # The untilted post of each topic sits exactly on its cluster's centre.
    assert sorted(themes) == [0, 3, 6]
    assert themes[0].terms[0] == "login"
    assert themes[3].terms[0] == "billing"
    assert themes[6].terms[0] == "coda"
    for theme in themes.values():
        assert "notion" not in theme.label
        assert not {"the", "is", "to"} & set(theme.terms)


def test_reposts_add_to_a_theme_but_cannot_make_one() -> None:
    viral = "RT @someone: Notion is DOWN again!!! https://t.co/x"
    reposts = [(viral.replace("someone", f"fan{i}"), around(4)) for i in range(20)]
    texts, vectors = split(LOGIN + BILLING + reposts)
    themes = find_themes(texts, vectors)
    assert len(themes) == 2
    assert sum(t.posts for t in themes) == 26
    assert {t.distinct_texts for t in themes} <= {3, 4}
    # The 20 reposts are one distinct text, represented once at most.
    shown = [t.representative for t in themes] + [i for t in themes for i in t.samples]
    assert sum(i >= 6 for i in shown) <= 1


def test_shares_count_duplicates_and_themes_are_ordered_by_size() -> None:
    rows = LOGIN + BILLING + [(BILLING[0][0], BILLING[0][1])] * 4
    texts, vectors = split(rows)
    themes = find_themes(texts, vectors)
    assert [t.theme_id for t in themes] == [1, 2]
    assert themes[0].posts == 7 and themes[0].distinct_texts == 3
    assert themes[0].share == pytest.approx(7 / 10)
    assert themes[1].share == pytest.approx(3 / 10)


def test_near_identical_texts_collapse_by_embedding() -> None:
    texts = ["notion ai is down", "notion ai is down again", "billing broke"]
    vectors = np.array([around(0), around(0, 0.05), around(1)])
    assert duplicate_groups(texts, vectors, 0.95) == [[0, 1], [2]]
    assert duplicate_groups(texts, vectors, 0.9999) == [[0], [1], [2]]


@pytest.mark.parametrize("a, b", [
    ("RT @x: Notion is down!!", "notion is DOWN"),
    ("notion is down https://t.co/abc", "Notion is down."),
    ("@NotionHQ notion is down", "notion   is down"),
])
def test_dedupe_key_ignores_reposts_handles_links_case_and_punctuation(a: str, b: str) -> None:
    assert dedupe_key(a) == dedupe_key(b)


def test_too_few_distinct_texts_make_one_theme_or_none() -> None:
    texts, vectors = split(LOGIN + BILLING[:1])
    themes = find_themes(texts, vectors)
    assert len(themes) == 1 and themes[0].posts == 4
    texts, vectors = split(LOGIN[:2] * 5)
    assert find_themes(texts, vectors) == []
    assert find_themes([], np.zeros((0, DIM))) == []


def test_deterministic_and_shape_checked() -> None:
    texts, vectors = split(LOGIN + BILLING + SWITCHING + STATUS)
    assert find_themes(texts, vectors) == find_themes(list(texts), vectors.copy())
    with pytest.raises(ValueError):
        find_themes(texts, vectors[:-1])


def test_max_themes_caps_the_clusters() -> None:
    texts, vectors = split(LOGIN + BILLING + SWITCHING + STATUS)
    themes = find_themes(texts, vectors, ThemeParams(max_themes=2))
    assert len(themes) == 2 and sum(t.posts for t in themes) == 12


# -- the analyze step with the real encoder -------------------------------------------------
TOPICS = {
    "login": ["can't log in to notion, the login page keeps spinning",
              "notion login is broken, stuck on sign in",
              "locked out of my notion account, login fails every time",
              "login loop on notion, it keeps asking me to sign in again",
              "anyone else unable to sign in to notion? login just errors"],
    "billing": ["notion charged my card twice this month",
                "double charged for notion plus, where is my refund",
                "notion billing took money twice, support won't answer",
                "why is my notion invoice twice the price this month",
                "refund please notion, you billed me two times"],
    "coda": ["that's it, moving our whole team wiki from notion to coda",
             "switching to coda today, notion is unusable",
             "we migrated our docs to coda this afternoon",
             "coda import from notion worked great, bye",
             "trying coda since notion keeps failing us"],
}


@pytest.fixture()
def spike_db(db):  # type: ignore[no-untyped-def]
    import pandas as pd

    from pipelines.warehouse.writer import POST_COLUMNS, writing

    start = pd.Timestamp("2024-08-13T15:40Z")
    rows = []
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts):
            rows.append((f"{topic}{i}", text, 100 + i))
    # A viral post reposted 30 times: one more login complaint, not a theme of its own.
    rows += [(f"rt{i}", "RT @big: notion login is broken, stuck on sign in", 5) for i in range(30)]
    posts = pd.DataFrame([{
        "source": "x", "id": pid, "service": "notion", "text": text, "author": pid,
        "created_at": start + pd.Timedelta(seconds=10 * n), "author_followers": followers,
        "likes": 0, "reposts": 0, "replies": 0, "quotes": 0, "lang": "en", "url": None,
        "is_repost": pid.startswith("rt"), "parent_id": None, "raw_page_id": None,
    } for n, (pid, text, followers) in enumerate(rows)])
    classes = posts[["source", "id"]].assign(
        model_version="test", sentiment="negative", sentiment_scores="{}", is_complaint=True,
        complaint_probability=0.9, complaint_type="outage", complaint_scores="{}",
        uncertain=False, language="en", unsupported_language=False)
    spikes = pd.DataFrame([{
        "spike_id": "notion:all:20240813T1540", "service": "notion", "complaint_type": None,
        "start": start, "peak": start, "end": start + pd.Timedelta(minutes=9), "peak_rate": 5.0,
        "expected_rate": 0.5, "score": 8.0, "posts": len(posts)}])
    with writing(db) as wh:
        wh.upsert_posts(posts[POST_COLUMNS])
        wh.write_classifications(classes)
        wh.replace_table("spikes", spikes, list(spikes.columns))
    return db


@pytest.mark.slow
def test_themes_step_finds_the_topics_with_the_real_encoder(spike_db) -> None:  # type: ignore[no-untyped-def]
    import json

    from pipelines.themes_step import compute_spike_themes
    from pipelines.warehouse.writer import writing

    with writing(spike_db) as wh:
        n = compute_spike_themes(wh, ignore_terms={"notion": ["Notion AI", "notion"]})
        assert compute_spike_themes(wh, ignore_terms={"notion": ["notion"]}) == n  # no duplicates
        themes = wh.con.execute("SELECT * FROM spike_themes ORDER BY theme_id").df()
    assert n == len(themes) == 3
    topic_of = {f"{t}{i}": t for t, texts in TOPICS.items() for i in range(len(texts))}
    for row in themes.itertuples():
        ids = [row.representative_id] + [s["id"] for s in json.loads(row.sample_ids)]
        assert len({topic_of.get(i, "login") for i in ids}) == 1, row
        assert "notion" not in row.label
    login = themes.iloc[0]
    assert login.posts == 35 and login.distinct_texts <= 5  # the 30 reposts count once
    assert topic_of[login.representative_id] == "login"
    assert themes["share"].sum() == pytest.approx(1.0)


def test_themes_step_loads_no_encoder_without_spikes(db) -> None:  # type: ignore[no-untyped-def]
    from pipelines.themes_step import compute_spike_themes
    from pipelines.warehouse.writer import writing

    def refuse() -> None:
        raise AssertionError("the encoder must not load when there is nothing to cluster")

    with writing(db) as wh:
        assert compute_spike_themes(wh, encoder=refuse) == 0  # type: ignore[arg-type]


def test_labels_skip_the_service_name_even_misspelt() -> None:
    texts = ["cluade login broken again #claudedown", "claud login fails for me #claudedown",
             "claude login page dead",
             "claude charged twice, billing mess", "cluade billing double charge",
             "billing charged my card twice claud"]
    vectors = np.array([around(0), around(0, 0.6), around(0, -0.6),
                        around(1), around(1, 0.6), around(1, -0.6)])
    themes = find_themes(texts, vectors, ignore_terms=["Claude"])
    assert len(themes) == 2
    assert {t.terms[0] for t in themes} == {"login", "billing"}
    assert not any(w.startswith(("cla", "clu")) for t in themes for w in t.label.split())


def test_label_terms_do_not_repeat_a_word_in_plural() -> None:
    from analysis.themes import _pick_terms

    assert _pick_terms(["error", "errors", "app", "error box", "apps", "red"], 3) == [
        "error", "app", "red"]


@pytest.mark.slow
def test_themes_step_reencodes_only_spikes_whose_posts_changed(spike_db) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from analysis.classifier.encoder import MiniLMEncoder
    from pipelines.themes_step import compute_spike_themes
    from pipelines.warehouse.writer import writing

    loads: list[int] = []

    def counting_encoder() -> MiniLMEncoder:
        loads.append(1)
        return MiniLMEncoder()

    def refuse() -> None:
        raise AssertionError("an unchanged spike must keep its themes without the encoder")

    with writing(spike_db) as wh:
        first = wh.con.execute("SELECT count(*) FROM spike_themes").fetchall()
        n = compute_spike_themes(wh, encoder=counting_encoder)
        before = wh.con.execute("SELECT * FROM spike_themes ORDER BY theme_id").df()
        assert compute_spike_themes(wh, encoder=refuse) == n  # type: ignore[arg-type]
        again = wh.con.execute("SELECT * FROM spike_themes ORDER BY theme_id").df()
        pd.testing.assert_frame_equal(before, again)
        # A new complaint inside the spike changes its posts: its themes are recomputed.
        wh.con.execute("UPDATE post_records SET text = 'notion sync lost my whole page' "
                       "WHERE id = 'login0'")
        compute_spike_themes(wh, encoder=counting_encoder)
    assert first == [(0,)] and len(loads) == 2
