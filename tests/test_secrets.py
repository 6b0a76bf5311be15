"""Secrets: every credential setting (each SecretStr field of Settings) is read from the
environment only and never shown: not by repr(settings), not in the collect flow's logs or
results, not in the CLI's error output, not in the warehouse. Each source's own replay test
checks its warehouse rows and errors against a server that echoes the credential
(tests/test_source_*.py); this one runs all the post sources at once with sentinel values."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner
from pydantic import SecretStr

from pipelines.settings import Settings

SECRET_FIELDS = sorted(name for name, field in Settings.model_fields.items()
                       if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ())))
SENTINELS = {name: f"SENTINEL-{name.upper().replace('_', '-')}-7f3a9c" for name in SECRET_FIELDS}
# Nothing listens here: every source fails to connect, after its credentials were loaded.
DEAD = "http://127.0.0.1:9"
SOURCE_PREFIXES = ("x_", "reddit_", "bluesky_", "mastodon_")
# tweepy's host, as in tests/test_source_x.py. This said api.x.com, which tweepy never calls:
# the mock went unmatched, X failed to connect instead of refusing the token, and the CLI's
# collect waited out all its retries of a "transient" failure (5 + 30 + 120 s).
X_API = "https://api.twitter.com/2/tweets/search/recent"


@pytest.fixture()
def sentinel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name, value in SENTINELS.items():
        monkeypatch.setenv(f"AFTERSHOCK_{name.upper()}", value)
    monkeypatch.setenv("AFTERSHOCK_BLUESKY_HANDLE", "sentinel.bsky.social")
    return SENTINELS


def test_every_secret_setting_is_read_from_the_environment_and_never_shown(
        sentinel_env: dict[str, str]) -> None:
    assert {"x_bearer_token", "reddit_client_secret", "bluesky_app_password",
            "mastodon_access_token", "dashboard_password"} <= set(SECRET_FIELDS)
    settings = Settings()
    shown = [repr(settings), str(settings), settings.model_dump_json(),
             json.dumps(settings.model_dump(mode="json"))]
    for name, sentinel in sentinel_env.items():
        assert getattr(settings, name).get_secret_value() == sentinel  # it was read
        assert all(sentinel not in text for text in shown), name


def _config(tmp_path: Path) -> Path:
    base = (Path(__file__).parents[1] / "pipelines" / "services.example.toml").read_text()
    path = tmp_path / "services.toml"
    path.write_text(base.split("[sources.")[0] + f"""
[sources.x]
[sources.reddit]
oauth_url = "{DEAD}"
reddit_url = "{DEAD}"
[sources.bluesky]
service = "{DEAD}"
[sources.mastodon]
instances = ["{DEAD}"]
[sources.hackernews]
api_url = "{DEAD}"
""")
    return path


def _x_refuses_and_echoes_the_token(api: responses.RequestsMock) -> None:
    """X answers 401 with the request's Authorization header in its body: an error message
    built from the response would carry the token."""
    def refuse(request):  # type: ignore[no-untyped-def]
        return 401, {}, json.dumps({"title": "Unauthorized", "detail": str(request.headers)})
    api.add_callback(responses.GET, X_API, callback=refuse)


@pytest.mark.slow
def test_sources_run_with_sentinel_credentials_leak_them_nowhere(
        sentinel_env: dict[str, str], tmp_path: Path, db: Path, prefect_harness: None,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main
    from pipelines.config import load_config
    from pipelines.flows import collect_flow
    from pipelines.sources import build_source
    from pipelines.warehouse.reader import query

    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path)
    names = ["x", "reddit", "bluesky", "mastodon", "hackernews"]
    used = {s for name in names
            for s in build_source(name, Settings(), load_config(config)).secrets()}
    # Every post credential reaches a source (so the checks below can fail).
    assert {v for k, v in sentinel_env.items() if k.startswith(SOURCE_PREFIXES)} <= used

    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add_passthru("http://127.0.0.1")
        _x_refuses_and_echoes_the_token(api)
        results = collect_flow(str(db), str(config), names, retry_delays_s=[0])
        cli = CliRunner().invoke(main, ["collect", "--db", str(db), "--config", str(config),
                                        "--source", "x"])
        # X was asked with the token and refused it (an unmatched mock would not answer 401).
        assert any("Bearer" in str(c.request.headers)
                   and getattr(c.response, "status_code", None) == 401 for c in api.calls)
    assert {r["status"] for r in results.values()} == {"failed"}, results
    assert cli.exit_code == 1 and "x: failed" in cli.output

    runs = query(db, "SELECT * FROM pipeline_runs").to_csv()
    assert "collect:hackernews" in runs
    out = capsys.readouterr()
    texts = {"results": json.dumps(results), "cli": cli.output + cli.stderr, "logs": caplog.text,
             "stdout": out.out, "stderr": out.err, "warehouse": runs}
    for name, sentinel in sentinel_env.items():
        leaks = [where for where, text in texts.items() if sentinel in text]
        assert not leaks, (name, leaks)
