"""Notification providers through real protocols: e-mail to an SMTP server on 127.0.0.1
(aiosmtpd), an unconfigured channel failing clearly when the sandbox is off."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes

import pytest
from sqlalchemy import text

from cadastre_gis import incidents, notify, reports
from tests.conftest import free_port, need


@pytest.fixture()
def smtp_server():  # type: ignore[no-untyped-def]
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        need(False, "aiosmtpd (pip, test extra)")

    class Sink:
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
            return "250 OK"

    sink = Sink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield sink, port
    finally:
        ctl.stop()


def _report_and_deliver(engine, settings, contact: reports.Contact, lang: str,  # type: ignore[no-untyped-def]
                        deliver_settings, base: str):
    """A report with consent, then a status change and the delivery in one transaction (so
    no other deliverer — e.g. a live server's thread — can take the queued message first)."""
    rep = reports.ReportInput("water", 69.2797, 41.3111, "Pipe burst by the metro exit",
                              contact=contact, consent=True, lang=lang)
    with engine.begin() as c:
        out = reports.submit(c, settings.data_path, rep, f"notify-test-{lang}-{id(rep)}")
    with engine.begin() as c:
        c.execute(text("SELECT set_config('cadastre.actor', 'operator:test', true)"))
        incidents.set_status(c, out["incident_id"], "dispatched")
        notify.deliver_pending(c, deliver_settings, base)
    return out


def test_email_reaches_an_smtp_server(engine, settings, smtp_server) -> None:  # type: ignore[no-untyped-def]
    sink, port = smtp_server
    real = replace(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                   smtp_from="noreply@cadastre.example.uz")
    out = _report_and_deliver(engine, settings, reports.Contact(email="smtp.reader@example.uz"),
                              "uz", real, "https://portal.example.uz")
    got = [m for m in sink.messages if "smtp.reader@example.uz" in m[1]]
    assert len(got) == 1
    msg = message_from_bytes(got[0][2])
    body = msg.get_payload(decode=True).decode()
    assert "xizmatga yuborildi" in body  # Uzbek, the reporter's language
    assert f"https://portal.example.uz/reports/{out['token']}" in body
    assert "https://portal.example.uz/notifications/optout/" in body
    with engine.connect() as c:
        row = notify.outbox(c, notify.OutboxFilter(incident_id=out["incident_id"]))[0]
    assert row["status"] == "sent" and row["transport"].startswith("smtp:")


def test_unconfigured_channel_fails_clearly_without_sandbox(engine, settings) -> None:  # type: ignore[no-untyped-def]
    strict = replace(settings, notify_sandbox=False)
    out = _report_and_deliver(engine, settings, reports.Contact(telegram="@citizen_tg1"), "en",
                              strict, "http://127.0.0.1")
    with engine.connect() as c:
        row = notify.outbox(c, notify.OutboxFilter(incident_id=out["incident_id"]))[0]
    assert row["status"] == "failed" and "CADASTRE_TELEGRAM_BOT_TOKEN" in row["error"]
    with pytest.raises(notify.ChannelNotConfigured):
        notify.provider("sms", strict)
    assert isinstance(notify.provider("sms", settings), notify.Sandbox)


def test_cli_deliver_and_outbox(engine, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from cadastre_gis.cli import cli

    rep = reports.ReportInput("water", 69.2797, 41.3111, "Leak at the corner", consent=True,
                              contact=reports.Contact(phone="+998901234567"), lang="ru")
    with engine.begin() as c:
        out = reports.submit(c, settings.data_path, rep, "notify-cli-test")
        c.execute(text("SELECT set_config('cadastre.actor', 'operator:test', true)"))
        incidents.set_status(c, out["incident_id"], "rejected")
    monkeypatch.setenv("CADASTRE_DATABASE_URL", settings.url())
    monkeypatch.setenv("CADASTRE_DATA_DIR", str(settings.data_path))
    r = CliRunner().invoke(cli, ["notify", "deliver", "--base-url", "https://x.example"])
    assert r.exit_code == 0, r.output
    assert "handled" in r.output
    with engine.connect() as c:
        row = notify.outbox(c, notify.OutboxFilter(incident_id=out["incident_id"]))[0]
    assert row["status"] == "sent" and row["channel"] == "sms" and "отклонено" in row["body"]
    r = CliRunner().invoke(cli, ["notify", "outbox", "--limit", "5"])
    assert r.exit_code == 0 and "sms" in r.output
