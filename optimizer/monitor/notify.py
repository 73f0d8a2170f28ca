"""Notifications of the monitor: e-mail over SMTP (STARTTLS) and a webhook (JSON POST).

Each run sends the alerts not yet delivered to each target: one e-mail and one POST holding
them all.  What was delivered is kept in a small SQLite file (one row per alert and target),
so a later run never sends the same alert twice, and a target that failed gets the alert
again next time.  A failed delivery is retried ``retries`` times with a doubling wait, then
reported in the returned :class:`Delivery` records; nothing is dropped silently.

Secrets never live in the rules file: it names the environment variables that hold them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import sqlite3
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from roiste.optimizer.monitor.rules import EmailConfig, Notify, WebhookConfig

__all__ = ["Delivery", "SentStore", "deliver", "send_email", "send_webhook"]


@dataclass(frozen=True)
class Delivery:
    """The outcome of delivering a batch of alerts to one target."""

    target: str  # "email" or "webhook"
    status: str  # "sent", "failed" or "nothing new"
    alerts: tuple[str, ...]
    attempts: int
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alerts"] = list(self.alerts)
        return d


class SentStore:
    """Which alert went to which target: ``sent(alert_id, target, sent_at)`` in SQLite."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS sent (alert_id TEXT NOT NULL, "
                         "target TEXT NOT NULL, sent_at TEXT NOT NULL, "
                         "PRIMARY KEY (alert_id, target))")
        self._db.commit()

    def was_sent(self, alert_id: str, target: str) -> bool:
        row = self._db.execute("SELECT 1 FROM sent WHERE alert_id = ? AND target = ?",
                               (alert_id, target)).fetchone()
        return row is not None

    def mark(self, alert_ids: Sequence[str], target: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO sent VALUES (?, ?, ?)",
                                 [(a, target, now) for a in alert_ids])

    def close(self) -> None:
        self._db.close()


def _subject(alerts: Sequence[dict[str, Any]], title: str) -> str:
    first = alerts[0]
    more = f" and {len(alerts) - 1} more" if len(alerts) > 1 else ""
    return f"[roiste] {title}: {first['channel']} {first['kpi']} {first['summary_change']}{more}"


def _body(alerts: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"- {a['message']}\n  draft scenario: {a.get('draft_scenario') or 'none'}"
                     for a in alerts) + "\n"


def send_email(cfg: EmailConfig, alerts: Sequence[dict[str, Any]], title: str,
               cafile: Path | None = None) -> None:
    """One e-mail listing ``alerts``; raises ``OSError``/``smtplib.SMTPException`` on failure."""
    msg = EmailMessage()
    msg["Subject"] = _subject(alerts, title)
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.to)
    msg.set_content(_body(alerts))
    msg.add_attachment(json.dumps(list(alerts), indent=2, sort_keys=True).encode("utf-8"),
                       maintype="application", subtype="json", filename="alerts.json")
    user = os.environ.get(cfg.username_env) if cfg.username_env else None
    password = os.environ.get(cfg.password_env) if cfg.password_env else None
    if user and not password:
        raise smtplib.SMTPException(f"environment variable {cfg.password_env} is not set "
                                    f"(the password for {cfg.username_env})")
    with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds) as smtp:
        smtp.ehlo()
        if cfg.starttls:
            smtp.starttls(context=ssl.create_default_context(
                cafile=None if cafile is None else str(cafile)))
            smtp.ehlo()
        if user:
            smtp.login(user, password or "")
        smtp.send_message(msg)


def send_webhook(cfg: WebhookConfig, alerts: Sequence[dict[str, Any]], title: str) -> None:
    """POST ``{"text": ..., "alerts": [...]}`` as JSON; raises ``OSError`` unless 2xx."""
    body = json.dumps({"text": f"{title}\n{_body(alerts)}", "alerts": list(alerts)},
                      sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "roiste-monitor"}
    if cfg.token_env:
        token = os.environ.get(cfg.token_env)
        if not token:
            raise OSError(f"environment variable {cfg.token_env} is not set (the webhook token)")
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(cfg.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=cfg.timeout_seconds) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} {exc.reason}") from None
    if not 200 <= status < 300:
        raise OSError(f"HTTP {status}")


def _with_retries(send: Callable[[], None], retries: int, backoff: float,
                  sleep: Callable[[float], None]) -> tuple[int, str]:
    """Attempts made and the last error ('' on success)."""
    error = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            send()
            return attempt + 1, ""
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            error = f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no detail'}"
    return retries + 1, error


def deliver(
    alerts: Sequence[dict[str, Any]],
    notify: Notify,
    state: str | os.PathLike[str],
    *,
    title: str = "roiste monitor",
    cafile: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send the alerts not yet delivered to each configured target.

    Parameters
    ----------
    alerts : sequence of dict
        Alert records (as in ``alerts.json``), each with an ``id``.
    notify : Notify
        The ``notify:`` section of the rules.
    state : path
        The SQLite file of deliveries.
    title : str
        First line of the message.
    cafile : path, optional
        CA bundle for the SMTP server's certificate.
    sleep : callable
        Waits between attempts (seconds).

    Returns
    -------
    list of Delivery
        One per target; ``status`` is ``failed`` when every attempt failed.
    """
    targets: list[tuple[str, Callable[[list[dict[str, Any]]], None]]] = []
    if notify.email is not None:
        email = notify.email
        targets.append(("email", lambda batch: send_email(email, batch, title, cafile)))
    if notify.webhook is not None:
        hook = notify.webhook
        targets.append(("webhook", lambda batch: send_webhook(hook, batch, title)))
    out: list[Delivery] = []
    store = SentStore(state)
    try:
        for name, send in targets:
            batch = [a for a in alerts if not store.was_sent(a["id"], name)]
            ids = tuple(a["id"] for a in batch)
            if not batch:
                out.append(Delivery(name, "nothing new", ids, 0))
                continue
            attempts, error = _with_retries(lambda b=batch, s=send: s(b),  # type: ignore[misc]
                                            notify.retries, notify.backoff_seconds, sleep)
            if error:
                out.append(Delivery(name, "failed", ids, attempts, error))
            else:
                store.mark(ids, name)
                out.append(Delivery(name, "sent", ids, attempts))
    finally:
        store.close()
    return out
