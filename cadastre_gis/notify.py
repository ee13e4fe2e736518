"""Notifications to citizens: one channel interface, e-mail (SMTP), SMS and Telegram providers,
a sandbox outbox, per-address opt-out.

The database queues (migration 0012): every status event of an incident inserts one
``notification`` row per subscription whose address has not opted out, whatever made the
change (dashboard, QGIS, psql). :func:`deliver_pending` renders each queued row in the
subscriber's language with an opt-out link and hands it to the channel's provider. A provider
that is not configured raises :class:`ChannelNotConfigured`; with ``CADASTRE_NOTIFY_SANDBOX``
on (the default) such messages are kept in the outbox as ``sandbox`` deliveries instead, so the
demo and the tests see exactly what would have been sent. Nothing is queued without consent:
subscriptions exist only for reporters who ticked the box and citizens who asked to follow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .errors import CadastreError, InvalidInput
from .settings import Settings

log = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "telegram")


class ChannelNotConfigured(CadastreError):
    """This notification channel has no provider configured."""

    code = "ChannelNotConfigured"
    status = 503


@dataclass(frozen=True)
class Message:
    """One rendered message to one address."""

    channel: str
    address: str
    subject: str
    body: str


class Provider(Protocol):
    """What a channel's provider does: send one message, return a transport reference."""

    name: str

    def send(self, msg: Message) -> str:
        """Deliver ``msg``; raise on failure."""


class SmtpEmail:
    """E-mail through an SMTP server (``CADASTRE_SMTP_HOST`` … ``CADASTRE_SMTP_FROM``)."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        """Remember the server settings; refuse when no host is set."""
        host = getattr(settings, "smtp_host", None)
        if not host:
            raise ChannelNotConfigured("e-mail is not configured: set CADASTRE_SMTP_HOST")
        self.host: str = str(host)
        self.port = int(getattr(settings, "smtp_port", 587) or 587)
        self.user = getattr(settings, "smtp_user", None)
        self.password = getattr(settings, "smtp_password", None)
        self.sender = getattr(settings, "smtp_from", None) or "noreply@localhost"
        self.starttls = bool(getattr(settings, "smtp_starttls", True))

    def send(self, msg: Message) -> str:
        """Send one e-mail; returns its Message-ID."""
        em = EmailMessage()
        em["From"] = self.sender
        em["To"] = msg.address
        em["Subject"] = msg.subject
        from email.utils import make_msgid

        em["Message-ID"] = make_msgid(domain="cadastre")
        em.set_content(msg.body)
        with smtplib.SMTP(self.host, self.port, timeout=20) as s:
            if self.starttls:
                s.starttls(context=ssl.create_default_context())
            if self.user:
                s.login(self.user, self.password or "")
            s.send_message(em)
        return str(em["Message-ID"])


class HttpSms:
    """SMS through an HTTP gateway (``CADASTRE_SMS_URL``: POST JSON {to, text})."""

    name = "sms-http"

    def __init__(self, settings: Settings) -> None:
        """Refuse when no gateway URL is set."""
        url = getattr(settings, "sms_url", None)
        if not url:
            raise ChannelNotConfigured("SMS is not configured: set CADASTRE_SMS_URL")
        self.url: str = str(url)
        self.token = getattr(settings, "sms_token", None)

    def send(self, msg: Message) -> str:
        """POST the message to the gateway; returns its answer's id (or 'ok')."""
        req = urllib.request.Request(  # noqa: S310 - operator-configured URL
            self.url, data=json.dumps({"to": msg.address, "text": msg.body[:480]}).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        with urllib.request.urlopen(req, timeout=20) as r:  # noqa: S310
            body = r.read(4096)
        try:
            return str(json.loads(body).get("id", "ok"))
        except (ValueError, AttributeError):
            return "ok"


class Telegram:
    """Telegram Bot API (``CADASTRE_TELEGRAM_BOT_TOKEN``); the address is a chat id."""

    name = "telegram"

    def __init__(self, settings: Settings) -> None:
        """Refuse when no bot token is set."""
        self.token = getattr(settings, "telegram_bot_token", None)
        if not self.token:
            raise ChannelNotConfigured(
                "Telegram is not configured: set CADASTRE_TELEGRAM_BOT_TOKEN")

    def send(self, msg: Message) -> str:
        """Call sendMessage; returns the message id."""
        data = urllib.parse.urlencode({"chat_id": msg.address, "text": msg.body}).encode()
        url = f"https://api.telegram.org/bot{self.token}/sendMessage"
        with urllib.request.urlopen(url, data=data, timeout=20) as r:  # noqa: S310
            answer = json.loads(r.read(65536))
        if not answer.get("ok"):
            raise RuntimeError(f"telegram: {answer.get('description', 'refused')}")
        return str(answer["result"]["message_id"])


class Sandbox:
    """Keeps the message in the outbox only (demo, tests, unconfigured channels)."""

    name = "sandbox"

    def send(self, msg: Message) -> str:
        """Nothing leaves the platform."""
        return "sandbox"


PROVIDERS: dict[str, type] = {"email": SmtpEmail, "sms": HttpSms, "telegram": Telegram}


def provider(channel: str, settings: Settings) -> Provider:
    """The provider of ``channel``; the sandbox when it is unconfigured and sandboxing is on."""
    if channel not in PROVIDERS:
        raise InvalidInput(f"unknown channel {channel!r}")
    try:
        return PROVIDERS[channel](settings)  # type: ignore[no-any-return]
    except ChannelNotConfigured:
        if getattr(settings, "notify_sandbox", True):
            return Sandbox()
        raise


# --- messages --------------------------------------------------------------------------------

STATUS_TEXT = {
    "en": {"new": "received", "triaged": "confirmed", "dispatched": "sent to the service",
           "in_progress": "being fixed", "resolved": "resolved", "closed": "closed",
           "duplicate": "merged with an earlier report", "rejected": "rejected"},
    "ru": {"new": "получено", "triaged": "подтверждено", "dispatched": "передано службе",
           "in_progress": "в работе", "resolved": "решено", "closed": "закрыто",
           "duplicate": "объединено с более ранним обращением", "rejected": "отклонено"},
    "uz": {"new": "qabul qilindi", "triaged": "tasdiqlandi", "dispatched": "xizmatga yuborildi",
           "in_progress": "bajarilmoqda", "resolved": "hal qilindi", "closed": "yopildi",
           "duplicate": "avvalgi murojaat bilan birlashtirildi", "rejected": "rad etildi"},
}
TEMPLATES = {
    "en": ("Report {id}: {status}", "Your report {id} ({category}) is now: {status}.\n"
           "Follow it: {link}\n\nStop these messages: {optout}\n"),
    "ru": ("Обращение {id}: {status}", "Ваше обращение {id} ({category}) — статус: {status}.\n"
           "Следить: {link}\n\nОтказаться от сообщений: {optout}\n"),
    "uz": ("Murojaat {id}: {status}", "Sizning {id}-murojaatingiz ({category}) holati: {status}.\n"
           "Kuzatish: {link}\n\nXabarlardan voz kechish: {optout}\n"),
}


def optout_token(secret: str, channel: str, address: str) -> str:
    """A signed token naming (channel, address), for the opt-out link."""
    payload = base64.urlsafe_b64encode(f"{channel}\n{address}".encode()).decode().rstrip("=")
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{sig}"


def read_optout_token(secret: str, token: str) -> tuple[str, str]:
    """(channel, address) of a genuine opt-out token; InvalidInput otherwise."""
    payload, _, sig = (token or "").partition(".")
    good = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not payload or not hmac.compare_digest(sig, good):
        raise InvalidInput("this opt-out link is not valid")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    channel, _, address = raw.partition("\n")
    if channel not in CHANNELS or not address:
        raise InvalidInput("this opt-out link is not valid")
    return channel, address


def opt_out(conn: Connection, channel: str, address: str) -> None:
    """Stop every message to ``address`` on ``channel`` (queued ones are skipped too)."""
    conn.execute(text("INSERT INTO notification_optout (channel, address) VALUES (:c, :a)"
                      " ON CONFLICT DO NOTHING"), {"c": channel, "a": address})
    conn.execute(text("UPDATE notification SET status = 'skipped', error = 'opted out'"
                      " WHERE status = 'queued' AND channel = :c AND address = :a"),
                 {"c": channel, "a": address})


def render(row: dict[str, Any], base_url: str, secret: str) -> Message:
    """The message for one queued notification, in its language, with the opt-out link."""
    lang = row["lang"] if row["lang"] in TEMPLATES else "en"
    subject_t, body_t = TEMPLATES[lang]
    status = STATUS_TEXT[lang].get(row["to_status"] or "", row["to_status"] or "")
    link = f"{base_url}/reports/{row['token']}?lang={lang}" if row.get("token") else base_url
    optout = f"{base_url}/notifications/optout/{optout_token(secret, row['channel'], row['address'])}"
    values = {"id": row["incident_id"], "status": status, "category": row["category"],
              "link": link, "optout": optout}
    return Message(row["channel"], row["address"], subject_t.format(**values),
                   body_t.format(**values))


def deliver_pending(conn: Connection, settings: Settings, base_url: str,
                    limit: int = 100) -> int:
    """Render and send queued notifications (each worker takes its own rows); returns how many
    were handled. Call inside a transaction; failures are recorded, never raised."""
    secret = settings.resolved_secret_key()
    rows = conn.execute(text("""
        SELECT n.id, n.incident_id, n.channel, n.address, n.lang, n.to_status,
               r.token, coalesce(CASE n.lang WHEN 'ru' THEN c.name_ru WHEN 'uz' THEN c.name_uz
                                 END, c.name_en) AS category
          FROM notification n
          JOIN incident i ON i.id = n.incident_id
          JOIN incident_category c ON c.code = i.category
          LEFT JOIN citizen_report r ON r.incident_id = n.incident_id
         WHERE n.status = 'queued'
         ORDER BY n.id LIMIT :n FOR UPDATE OF n SKIP LOCKED"""), {"n": limit}).mappings().all()
    for row in rows:
        msg = render(dict(row), base_url.rstrip("/"), secret)
        try:
            prov = provider(row["channel"], settings)
            ref = prov.send(msg)
            conn.execute(text(
                "UPDATE notification SET status = 'sent', transport = :t, subject = :s,"
                " body = :b, sent_at = now(), attempts = attempts + 1, error = NULL"
                " WHERE id = :i"), {"t": f"{prov.name}:{ref}"[:200], "s": msg.subject,
                                    "b": msg.body, "i": row["id"]})
        except Exception as exc:  # noqa: BLE001 - a provider failure must not stop the queue
            log.warning("notification %s to %s failed: %s", row["id"], row["channel"], exc)
            conn.execute(text(
                "UPDATE notification SET status = 'failed', subject = :s, body = :b,"
                " error = :e, attempts = attempts + 1 WHERE id = :i"),
                {"s": msg.subject, "b": msg.body, "e": str(exc)[:500], "i": row["id"]})
    return len(rows)


@dataclass(frozen=True)
class OutboxFilter:
    """Which outbox messages to list."""

    incident_id: int | None = None
    address: str | None = None
    limit: int = 100


def outbox(conn: Connection, f: OutboxFilter) -> list[dict[str, Any]]:
    """Messages in the outbox, newest first."""
    rows = conn.execute(text("""
        SELECT id, incident_id, channel, address, lang, to_status, status, transport, subject,
               body, error, created_at, sent_at
          FROM notification
         WHERE (CAST(:inc AS bigint) IS NULL OR incident_id = :inc)
           AND (CAST(:addr AS text) IS NULL OR address = :addr)
         ORDER BY id DESC LIMIT :n"""),
        {"inc": f.incident_id, "addr": f.address, "n": min(max(f.limit, 1), 500)}).mappings()
    return [dict(r) for r in rows]


# ---- CLI: cadastre-gis notify deliver | outbox ----------------------------------------------
import click  # noqa: E402 - the CLI part of the module


@click.group("notify")
def notify_cli() -> None:
    """Citizen notifications: deliver the queue, show the outbox."""


@notify_cli.command("deliver")
@click.option("--base-url", default=None, help="public URL for links (default CADASTRE_BASE_URL)")
def deliver_cmd(base_url: str | None) -> None:
    """Deliver queued notifications once (web workers also do this continuously)."""
    from .cli import _settings
    from .db import transaction

    s = _settings()
    root = (base_url or s.base_url or f"http://{s.host}:{s.port}").rstrip("/")
    total = 0
    while True:
        with transaction(s, actor="notify") as c:
            n = deliver_pending(c, s, root)
        total += n
        if n == 0:
            break
    click.echo(f"handled {total} notification(s)")


@notify_cli.command("outbox")
@click.option("--limit", default=20, show_default=True, help="how many, newest first")
def outbox_cmd(limit: int) -> None:
    """Print the newest outbox messages (status, channel, address, subject)."""
    from .cli import _settings
    from .db import transaction

    with transaction(_settings()) as c:
        for r in outbox(c, OutboxFilter(limit=limit)):
            click.echo(f"{r['id']}\t{r['status']}\t{r['channel']}\t{r['address']}\t"
                       f"{r['subject'] or ''}")
