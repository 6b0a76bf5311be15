"""Where alerts go: a Slack incoming webhook, a generic JSON webhook, an SMTP server.

Each channel sends one rendered payload or raises AlertDeliveryError with a message that holds
no secret: webhook URLs embed their credentials, so errors name the exception type and the
response, never the URL (requests puts it in its messages), and every message is redacted of
every configured secret. Every call has a timeout; retries happen on the next run, not here."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from pipelines.errors import AftershockError

SLACK, WEBHOOK, EMAIL = "slack", "webhook", "email"
_BODY_CHARS = 200


class AlertDeliveryError(AftershockError):
    """A channel could not deliver an alert (the message holds no secret)."""


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, payload: dict[str, Any]) -> None: ...


def secret_fragments(secrets: Iterable[SecretStr | None]) -> list[str]:
    """The strings to scrub from any message: each secret, and for URLs also their path,
    query and user info (an error may quote only those)."""
    out: list[str] = []
    for secret in secrets:
        if secret is None or not secret.get_secret_value():
            continue
        value = secret.get_secret_value()
        out.append(value)
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:
            out += [p for p in (parts.path, parts.query, parts.netloc.rpartition("@")[0])
                    if len(p) > 1]
    return sorted(set(out), key=len, reverse=True)


def redact(text: str, fragments: Iterable[str]) -> str:
    for fragment in fragments:
        text = text.replace(fragment, "[redacted]")
    return text


class _ScrubSecrets(logging.Filter):
    """urllib3 logs request paths at DEBUG: a webhook URL's path is its secret. Scrubs every
    secret a channel has used from those records."""

    def __init__(self) -> None:
        super().__init__()
        self.fragments: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.fragments:
            message = record.getMessage()
            clean = redact(message, sorted(self.fragments, key=len, reverse=True))
            if clean != message:
                record.msg, record.args = clean, ()
        return True


_SCRUB = _ScrubSecrets()
for _logger in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
    logging.getLogger(_logger).addFilter(_SCRUB)


@dataclass(frozen=True)
class WebhookChannel:
    """POSTs the payload as JSON: Slack's incoming webhook (name `slack`) or any receiver."""

    name: str
    url: SecretStr = field(repr=False)
    timeout_s: float = 10.0

    def send(self, payload: dict[str, Any]) -> None:
        scrub = secret_fragments([self.url])
        _SCRUB.fragments.update(scrub)
        try:
            response = requests.post(self.url.get_secret_value(), json=payload,
                                     timeout=self.timeout_s, allow_redirects=False)
        except requests.RequestException as e:
            # Not `from e`: the cause's message quotes the URL, which is the secret.
            raise AlertDeliveryError(f"{self.name}: {type(e).__name__}, no response") from None
        if not 200 <= response.status_code < 300:
            body = redact(response.text[:_BODY_CHARS], scrub)
            raise AlertDeliveryError(
                f"{self.name}: HTTP {response.status_code} {' '.join(body.split())}".rstrip())


@dataclass(frozen=True)
class EmailChannel:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    security: Literal["starttls", "ssl", "plain"] = "starttls"
    user: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_s: float = 10.0
    name: str = EMAIL

    def send(self, payload: dict[str, Any]) -> None:
        scrub = secret_fragments([self.password])
        try:
            message = self._message(payload)
            with self._connect() as smtp:
                if self.user and self.password is not None:
                    smtp.login(self.user, self.password.get_secret_value())
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError, ValueError) as e:
            # Not `from e`: an SMTP reply may echo what we sent, the password included.
            raise AlertDeliveryError(
                f"email: {type(e).__name__}: {redact(' '.join(str(e).split()), scrub)}"
            ) from None

    def _message(self, payload: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = payload["subject"]
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(payload["text"])
        message.add_alternative(payload["html"], subtype="html")
        return message

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                    context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp
