"""Alert delivery end to end: a warehouse with a spike, a real HTTP receiver on 127.0.0.1 standing
in for Slack's incoming webhook and the JSON webhook, and a real aiosmtpd SMTP server. Payloads
arrive, post text with HTML/script/markdown arrives escaped, a failing channel is recorded and
retried without stopping the others, a re-run sends nothing, and no secret shows anywhere."""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner
from pydantic import SecretStr

from analysis.linking import LINK_COLUMNS
from analysis.virality import REACTION_COLUMNS
from pipelines.alerts import send_alerts
from pipelines.cli import main
from pipelines.config import ServicesConfig, load_config
from pipelines.settings import Settings
from pipelines.warehouse.connection import open_reader
from pipelines.warehouse.writer import POST_COLUMNS, Warehouse, writing

NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
START = NOW - dt.timedelta(minutes=20)
SPIKE_ID = f"notion:all:{START:%Y%m%dT%H%M}"
EVIL = ("<script>alert('x')</script> *Notion* is _down_ ~again~ `rm -rf` <!channel> "
        "<http://evil.example|click> & <b>bold</b>\n> fake quote\nDashboard: http://evil.example")
SLACK_SENTINEL = "SENTINEL-slack-T000-B000-XXXX"
HOOK_SENTINEL = "SENTINEL-hook-token-1234"
SMTP_SENTINEL = "SENTINEL-smtp-password-5678"


# -- servers --------------------------------------------------------------------------------

@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers per path prefix."""

    url: str = ""
    requests: list[tuple[str, Any]] = field(default_factory=list)
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)

    def posted(self, prefix: str) -> list[Any]:
        return [body for path, body in self.requests if path.startswith(prefix)]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.path, json.loads(body)))
            status, text = next((a for p, a in state.answers.items()
                                 if self.path.startswith(p)), (200, "ok"))
            data = text.replace("{path}", self.path).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts"
          and auth_data.password == b"right-password")
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


@pytest.fixture()
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(),
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    yield box, controller.port
    controller.stop()


# -- the warehouse ------------------------------------------------------------------------------

def _post(i: int, minute: int, text: str, reposts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"source": "x", "id": str(i), "service": "notion",
            "created_at": pd.Timestamp(START + dt.timedelta(minutes=minute)), "text": text,
            "author": f"user{i}", "author_followers": 100 * i, "likes": i, "reposts": reposts,
            "replies": 0, "quotes": 0, "lang": "en", "url": f"https://x.com/u/status/{i}",
            "is_repost": False, "parent_id": None, "raw_page_id": None, **extra}


def build_warehouse(db: Path) -> None:
    posts = [_post(i, i % 18, f"notion ai is down again {i}") for i in range(1, 30)]
    posts.append(_post(99, 3, EVIL, reposts=500))
    frame = pd.DataFrame(posts)[POST_COLUMNS]
    scores = json.dumps({"negative": 0.9})
    classes = pd.DataFrame([{"source": "x", "id": p["id"], "model_version": "test",
                             "sentiment": "negative", "sentiment_scores": scores,
                             "is_complaint": True, "complaint_probability": 0.9,
                             "complaint_type": "outage", "complaint_scores": scores,
                             "classified_at": pd.Timestamp(NOW)} for p in posts])
    spikes = pd.DataFrame([{
        "spike_id": SPIKE_ID, "service": "notion", "complaint_type": None,
        "start": pd.Timestamp(START), "peak": pd.Timestamp(START + dt.timedelta(minutes=5)),
        "end": pd.Timestamp(NOW - dt.timedelta(minutes=2)), "peak_rate": 24.0,
        "expected_rate": 2.0, "score": 9.0, "posts": len(posts)}])
    incidents = pd.DataFrame([{
        "provider": "anthropic", "incident_id": "inc-1",
        "title": "Elevated errors on the API <img src=x onerror=alert(1)>",
        "impact": "major", "status": "investigating", "components": ["API"], "url": None,
        "created_at": pd.Timestamp(START), "started_at": pd.Timestamp(START),
        "resolved_at": pd.NaT, "updated_at": pd.Timestamp(START)}])
    links = pd.DataFrame([{"spike_id": SPIKE_ID, "incident_id": "inc-1",
                           "provider": "anthropic", "service": "notion",
                           "relation": "upstream", "lead_minutes": 12.0,
                           "overlap_minutes": 15.0, "confidence": 0.8}])
    reaction = pd.DataFrame([{
        "spike_id": SPIKE_ID, "service": "notion", "complaint_type": None,
        "posts": len(posts), "complaints": len(posts), "distinct_authors": len(posts),
        "reposts": 500, "repost_records": 0, "quotes": 0, "likes": 10, "reach": 43_500,
        "velocity_per_min": 4, "size_vs_median": 3.5,
        "top_amplifiers": json.dumps([{"author": "user99", "followers": 9900, "reposts": 500,
                                       "quotes": 0, "post_id": "99"}]),
        "explained": True}])
    with writing(db) as wh:
        wh.upsert_posts(frame)
        insert(wh, "classifications", classes)
        wh.upsert_incidents(incidents, pd.DataFrame(
            columns=["provider", "incident_id", "update_id", "status", "body", "created_at"]))
        insert(wh, "spikes", spikes)
        wh.replace_table("incident_links", links, LINK_COLUMNS)
        wh.replace_table("spike_reaction", reaction, REACTION_COLUMNS)


def insert(wh: Warehouse, table: str, frame: pd.DataFrame) -> None:
    """Rows with only the columns alerting reads; the others keep their defaults."""
    names = ", ".join(f'"{c}"' for c in frame.columns)
    wh.con.register("_rows", frame)
    wh.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _rows")
    wh.con.unregister("_rows")


@pytest.fixture()
def warehouse(db: Path) -> Path:
    build_warehouse(db)
    return db


@pytest.fixture(scope="module")
def config(config_path: Path) -> ServicesConfig:
    return load_config(config_path)


def settings(db: Path, **alerting: Any) -> Settings:
    return Settings(_env_file=None, db=db,  # type: ignore[call-arg]
                    alert_dashboard_url="http://dash.example:8501", **alerting)


def smtp_settings(port: int, password: str = "right-password") -> dict[str, Any]:
    return {"alert_smtp_host": "127.0.0.1", "alert_smtp_port": port,
            "alert_smtp_security": "plain", "alert_smtp_user": "alerts",
            "alert_smtp_password": SecretStr(password), "alert_smtp_from": "aftershock@test",
            "alert_smtp_to": "comms@test, oncall@test", "alert_timeout_s": 5.0}


def run(db: Path, s: Settings, config: ServicesConfig, at: dt.datetime = NOW) -> Any:
    with writing(db) as wh:
        return send_alerts(wh, s, at, config)


def alerts_table(db: Path) -> pd.DataFrame:
    con = open_reader(db)
    try:
        return con.execute("SELECT * FROM alerts_sent ORDER BY channel").df()
    finally:
        con.close()


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_part(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# -- tests --------------------------------------------------------------------------------------

def test_one_alert_reaches_slack_webhook_and_email_escaped(
        warehouse: Path, receiver: Receiver, smtp: tuple[Mailbox, int],
        config: ServicesConfig) -> None:
    box, port = smtp
    s = settings(warehouse, alert_slack_webhook_url=SecretStr(f"{receiver.url}/slack/hook"),
                 alert_webhook_url=SecretStr(f"{receiver.url}/json"), **smtp_settings(port))
    summary = run(warehouse, s, config)
    assert (summary.alerts, summary.delivered, summary.failed) == (1, 3, 0)
    link = f"http://dash.example:8501/incident?spike=notion%3Aall%3A{START:%Y%m%dT%H%M}"

    [slack] = receiver.posted("/slack")
    blocks = json.dumps(slack["blocks"])
    assert slack["blocks"][0]["text"]["text"] == "Complaint spike: Notion AI, 12x expected"
    assert "Upstream incident at Anthropic (inc-1)" in blocks and link in blocks
    assert "&lt;script&gt;" in blocks and "&lt;!channel&gt;" in blocks
    for raw in ("<script>", "<!channel>", "<http://evil.example", "<b>", "*Notion*", "_down_",
                "`rm", "<img", "\\n> fake"):
        assert raw not in blocks, raw

    [hook] = receiver.posted("/json")
    assert hook["schema"] == "aftershock.alert/1" and hook["kind"] == "new"
    assert hook["spike"]["id"] == SPIKE_ID and hook["spike"]["ratio"] == pytest.approx(12.0)
    assert hook["incident"]["relation"] == "upstream" and hook["dashboard_url"] == link
    assert hook["top_posts"][0]["text"] == EVIL  # raw: the receiver decides how to show it
    assert hook["spike"]["reach"] == 43_500 and hook["spike"]["size_vs_median"] == 3.5

    [mail] = box.messages
    assert mail["To"] == "comms@test, oncall@test"
    assert mail["Subject"] == "[Aftershock] Complaint spike: Notion AI, 12x expected"
    page = html_part(mail)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "<script>" not in page
    assert "<b>bold" not in page and "<img" not in page and f'href="{link}"' in page
    text = text_part(mail)
    assert f"Open the incident page: {link}" in text
    # A post cannot fake a line of the alert: its text stays on its quoted line.
    assert not any(line.startswith(("Dashboard:", "> fake")) for line in text.splitlines())

    rows = alerts_table(warehouse)
    assert rows[["channel", "kind", "level", "ok"]].values.tolist() == [
        ["email", "new", 0, True], ["slack", "new", 0, True], ["webhook", "new", 0, True]]
    assert set(rows["incident"]) == {"anthropic:inc-1"}


def test_a_rerun_sends_nothing_and_a_later_recovery_follows(
        warehouse: Path, receiver: Receiver, config: ServicesConfig) -> None:
    s = settings(warehouse, alert_webhook_url=SecretStr(f"{receiver.url}/json"))
    run(warehouse, s, config)
    run(warehouse, s, config)
    run(warehouse, s, config, NOW + dt.timedelta(minutes=5))
    assert [h["kind"] for h in receiver.posted("/json")] == ["new"]
    # Fresh posts 20 minutes past the spike's last active minute: the detector has closed it.
    with writing(warehouse) as wh:
        wh.upsert_posts(pd.DataFrame([_post(200, 38, "notion is fine now")])[POST_COLUMNS])
    run(warehouse, s, config, NOW + dt.timedelta(minutes=20))
    run(warehouse, s, config, NOW + dt.timedelta(minutes=40))
    assert [h["kind"] for h in receiver.posted("/json")] == ["new", "recovered"]
    assert receiver.posted("/json")[1]["spike"]["ended"] is True


def test_a_failing_channel_is_recorded_never_blocks_the_others_and_is_retried(
        warehouse: Path, receiver: Receiver, smtp: tuple[Mailbox, int],
        config: ServicesConfig) -> None:
    box, port = smtp
    receiver.answers["/slack"] = (500, "internal_error")
    s = settings(warehouse, alert_slack_webhook_url=SecretStr(f"{receiver.url}/slack/hook"),
                 alert_webhook_url=SecretStr(f"http://127.0.0.1:{free_port()}/closed"),
                 **smtp_settings(port))
    summary = run(warehouse, s, config)
    assert (summary.delivered, summary.failed) == (1, 2)
    assert len(box.messages) == 1 and len(receiver.posted("/slack")) == 1
    rows = alerts_table(warehouse).set_index("channel")
    assert rows.loc["email", "ok"] and not rows.loc["slack", "ok"]
    assert rows.loc["slack", "error"] == "slack: HTTP 500 internal_error"
    assert rows.loc["webhook", "error"] == "webhook: ConnectionError, no response"

    # Slack recovers: the next run retries its delivery alone, with the stored payload.
    receiver.answers.clear()
    summary = run(warehouse, s, config, NOW + dt.timedelta(minutes=2))
    assert (summary.alerts, summary.delivered, summary.failed) == (0, 1, 1)
    first, retried = receiver.posted("/slack")
    assert retried == first and len(box.messages) == 1
    rows = alerts_table(warehouse).set_index("channel")
    assert rows.loc["slack", "ok"] and rows.loc["slack", "attempts"] == 2
    assert rows.loc["slack", "error"] is None or pd.isna(rows.loc["slack", "error"])
    assert not rows.loc["webhook", "ok"] and rows.loc["webhook", "attempts"] == 2


def test_retries_stop_after_the_maximum_attempts(
        warehouse: Path, receiver: Receiver, config: ServicesConfig) -> None:
    receiver.answers["/json"] = (503, "busy")
    s = settings(warehouse, alert_webhook_url=SecretStr(f"{receiver.url}/json"),
                 alert_max_attempts=3)
    for minute in range(5):
        run(warehouse, s, config, NOW + dt.timedelta(minutes=minute))
    assert len(receiver.posted("/json")) == 3
    assert alerts_table(warehouse)["attempts"].tolist() == [3]


def test_secrets_appear_in_no_log_table_error_or_summary(
        warehouse: Path, receiver: Receiver, smtp: tuple[Mailbox, int],
        config: ServicesConfig, caplog: pytest.LogCaptureFixture) -> None:
    box, port = smtp
    # The failing receiver echoes the request path (the secret) in its error body.
    receiver.answers["/services"] = (403, "invalid_token for {path}")
    s = settings(
        warehouse,
        alert_slack_webhook_url=SecretStr(f"{receiver.url}/services/{SLACK_SENTINEL}"),
        alert_webhook_url=SecretStr(f"http://127.0.0.1:{free_port()}/h?token={HOOK_SENTINEL}"),
        **smtp_settings(port, password=SMTP_SENTINEL))
    with caplog.at_level(logging.DEBUG):
        summary = run(warehouse, s, config)
    assert (summary.delivered, summary.failed) == (0, 3) and box.messages == []
    assert receiver.posted("/services")  # the secret URL was really used
    con = open_reader(warehouse)
    try:
        tables = [con.execute(f"SELECT * FROM {t}").df().to_csv()
                  for t in ("alerts_sent", "pipeline_runs")]
    finally:
        con.close()
    seen = "\n".join([caplog.text, *tables, json.dumps(vars(summary)), repr(s), str(s),
                      "\n".join(r.getMessage() for r in caplog.records)])
    assert "HTTP 403 invalid_token for [redacted]" in seen
    assert "SMTPAuthenticationError" in seen
    for sentinel in (SLACK_SENTINEL, HOOK_SENTINEL, SMTP_SENTINEL):
        assert sentinel not in seen


def test_email_over_starttls_with_login(warehouse: Path, tmp_path: Path,
                                        config: ServicesConfig) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=server_tls,
                            require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    try:
        s = settings(warehouse, **{**smtp_settings(controller.port),
                                   "alert_smtp_security": "starttls", "alert_smtp_ca_file": cert})
        summary = run(warehouse, s, config)
    finally:
        controller.stop()
    assert (summary.delivered, summary.failed) == (1, 0), summary.notes
    assert box.messages[0]["Subject"].startswith("[Aftershock] Complaint spike")


def test_storm_sends_the_cap_then_one_digest(warehouse: Path, receiver: Receiver,
                                             config: ServicesConfig) -> None:
    extra = pd.DataFrame([{
        "spike_id": f"slack:all:{START:%Y%m%dT%H%M}{i:02d}", "service": "slack",
        "complaint_type": None, "start": pd.Timestamp(START),
        "peak": pd.Timestamp(START), "end": pd.Timestamp(NOW - dt.timedelta(minutes=2)),
        "peak_rate": 10.0 + i, "expected_rate": 1.0, "score": 6.0, "posts": 30}
        for i in range(6)])
    with writing(warehouse) as wh:
        insert(wh, "spikes", extra)
    s = settings(warehouse, alert_webhook_url=SecretStr(f"{receiver.url}/json"),
                 alert_max_per_run=3)
    summary = run(warehouse, s, config)
    assert (summary.alerts, summary.digested) == (3, 4)
    posted = receiver.posted("/json")
    assert [p["kind"] for p in posted] == ["new"] * 3 + ["digest"]
    assert posted[3]["total"] == 4 and len(posted[3]["alerts"]) == 4
    run(warehouse, s, config, NOW + dt.timedelta(minutes=1))
    assert len(receiver.posted("/json")) == 4


def test_old_spikes_never_alert(warehouse: Path, receiver: Receiver,
                                config: ServicesConfig) -> None:
    s = settings(warehouse, alert_webhook_url=SecretStr(f"{receiver.url}/json"))
    summary = run(warehouse, s, config, NOW + dt.timedelta(days=400))
    assert (summary.alerts, summary.too_old) == (0, 1) and receiver.requests == []


def test_dry_run_prints_the_alert_and_sends_nothing(
        warehouse: Path, receiver: Receiver, config_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_ALERT_WEBHOOK_URL", f"{receiver.url}/json/{HOOK_SENTINEL}")
    result = CliRunner().invoke(main, ["alerts", "--dry-run", "--db", str(warehouse),
                                       "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "1 alert message(s) due now -> webhook" in result.output
    assert "Complaint spike: Notion AI, 12x expected" in result.output
    assert HOOK_SENTINEL not in result.output
    assert receiver.requests == [] and alerts_table(warehouse).empty


def test_half_configured_email_is_a_clear_error(warehouse: Path, config_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_ALERT_SMTP_HOST", "127.0.0.1")
    result = CliRunner().invoke(main, ["alerts", "--dry-run", "--db", str(warehouse),
                                       "--config", str(config_path)])
    assert result.exit_code == 1 and "AFTERSHOCK_ALERT_SMTP_TO" in result.output


@pytest.mark.slow
def test_alerts_flow_under_prefect(warehouse: Path, receiver: Receiver, config_path: Path,
                                   prefect_harness: None, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    from pipelines.flows import alerts_flow

    monkeypatch.setenv("AFTERSHOCK_ALERT_WEBHOOK_URL", f"{receiver.url}/json/{HOOK_SENTINEL}")
    with caplog.at_level(logging.INFO):
        result = alerts_flow(str(warehouse), str(config_path))
    assert (result["alerts"], result["delivered"]) == (1, 1)
    assert [p["spike"]["id"] for p in receiver.posted("/json")] == [SPIKE_ID]
    assert HOOK_SENTINEL not in caplog.text


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made with `cryptography` (a Prefect dependency)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
