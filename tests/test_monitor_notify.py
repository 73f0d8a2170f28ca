"""Notifications against real local servers: an SMTP server with STARTTLS and login
(aiosmtpd, self-signed certificate made here with openssl) and an HTTP server for the webhook.

Each is started on 127.0.0.1 by the test; outages are a closed port or a server answering 503.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from roiste.models.simulate import write_world
from roiste.optimizer.cli import main
from roiste.optimizer.monitor.notify import SentStore
from roiste.optimizer.runs import run_monitor

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

USER, PASSWORD, TOKEN = "monitor", "s3cret-pw", "hook-token-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed for the test certificate)")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "key.pem"),
         "-out", str(d / "cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60)
    return d / "cert.pem", d / "key.pem"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope, session.ssl is not None))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            ok = data.login.decode() == USER and data.password.decode() == PASSWORD
            return AuthResult(success=ok)
        return AuthResult(success=False)


@pytest.fixture
def smtp(cert: tuple[Path, Path]) -> Iterator[tuple[_Inbox, int]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    inbox = _Inbox()
    port = _free_port()
    ctl = aiosmtpd_controller.Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
        authenticator=inbox.authenticate, auth_require_tls=True, auth_required=True)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


class _Hook:
    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.fail_next = 0


@pytest.fixture
def webhook() -> Iterator[tuple[_Hook, int]]:
    hook = _Hook()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hook.fail_next > 0:
                hook.fail_next -= 1
                self.send_response(503)
                self.end_headers()
                return
            hook.posts.append((dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def case(tmp_path: Path, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    write_world(tmp_path / "panel.csv", seed=4, n_channels=2, n_weeks=30)
    shutil.copy(cert[0], tmp_path / "ca.pem")
    monkeypatch.setenv("ROISTE_SMTP_USER", USER)
    monkeypatch.setenv("ROISTE_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    return tmp_path


def _rules(d: Path, smtp_port: int, hook_port: int, retries: int = 2) -> Path:
    doc = {
        "name": "Notify test",
        # an absolute floor no channel reaches: every channel alerts in its first week
        "rules": [{"name": "ROAS floor", "kpi": "roas", "threshold":
                   {"relative_to": "absolute", "below": 1000.0},
                   "durability": {"weeks_in_a_row": 1}}],
        "notify": {
            "email": {"host": "127.0.0.1", "port": smtp_port, "from": "monitor@shop.test",
                      "to": ["growth@shop.test"], "cafile": "ca.pem", "timeout_seconds": 5},
            "webhook": {"url": f"http://127.0.0.1:{hook_port}/hook", "token_env": "HOOK_TOKEN",
                        "timeout_seconds": 5},
            "state": "sent.sqlite", "retries": retries, "backoff_seconds": 0.5,
        },
    }
    (d / "rules.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return d / "rules.yml"


def test_alerts_reach_the_mail_server_over_starttls_and_the_webhook_once(
    case: Path, smtp: tuple[_Inbox, int], webhook: tuple[_Hook, int]
) -> None:
    inbox, sport = smtp
    hook, hport = webhook
    rules = _rules(case, sport, hport)
    waits: list[float] = []
    res = run_monitor(case / "panel.csv", rules, case / "out", progress=False, sleep=waits.append)
    assert sorted(a["channel"] for a in res.alerts) == ["search_brand", "search_generic"]
    assert [(d.target, d.status, d.attempts) for d in res.deliveries] == [
        ("email", "sent", 1), ("webhook", "sent", 1)]
    assert waits == []
    # the mail: over TLS, after login with the credentials from the environment
    assert inbox.logins == [(USER, PASSWORD)]
    (envelope, tls), = inbox.messages
    assert tls and envelope.rcpt_tos == ["growth@shop.test"]
    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert "Notify test" in mail["Subject"] and "roas" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "search_brand" in body and "draft-01-search_brand.yml" in body
    attached = [p for p in mail.iter_attachments() if p.get_filename() == "alerts.json"]
    assert {a["id"] for a in json.loads(attached[0].get_content())} == {a["id"] for a in res.alerts}
    # the webhook: one JSON POST with a bearer token
    (headers, payload), = hook.posts
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert [a["id"] for a in payload["alerts"]] == [a["id"] for a in res.alerts]
    assert payload["text"].startswith("Notify test")
    doc = json.loads((case / "out" / "alerts.json").read_text())
    assert [n["status"] for n in doc["notifications"]] == ["sent", "sent"]
    # a second run with the same alerts sends nothing again
    res2 = run_monitor(case / "panel.csv", rules, case / "out", force=True, progress=False)
    assert [d.status for d in res2.deliveries] == ["nothing new", "nothing new"]
    assert len(inbox.messages) == 1 and len(hook.posts) == 1


def test_a_webhook_outage_is_retried_with_backoff(
    case: Path, smtp: tuple[_Inbox, int], webhook: tuple[_Hook, int]
) -> None:
    hook, hport = webhook
    hook.fail_next = 2  # two 503 answers, then the server is back
    waits: list[float] = []
    res = run_monitor(case / "panel.csv", _rules(case, smtp[1], hport), case / "out",
                      progress=False, sleep=waits.append)
    web = next(d for d in res.deliveries if d.target == "webhook")
    assert (web.status, web.attempts) == ("sent", 3)
    assert waits == [0.5, 1.0]
    assert len(hook.posts) == 1


def test_a_mail_server_outage_is_reported_and_sent_on_the_next_run(
    case: Path, cert: tuple[Path, Path], webhook: tuple[_Hook, int]
) -> None:
    hook, hport = webhook
    down = _free_port()  # nothing listens there
    rules = _rules(case, down, hport, retries=2)
    runner = CliRunner()
    res = runner.invoke(main, ["monitor", str(case / "panel.csv"), "--rules", str(rules),
                               "--out", str(case / "out"), "--quiet"])
    assert res.exit_code == 1
    assert "error: email delivery failed after 3 attempt(s): ConnectionRefusedError" in res.stderr
    doc = json.loads((case / "out" / "alerts.json").read_text())
    email = next(n for n in doc["notifications"] if n["target"] == "email")
    assert email["status"] == "failed" and email["attempts"] == 3 and email["alerts"]
    assert 'class="failed"' in (case / "out" / "dashboard.html").read_text()
    # the webhook went out; the mail is still owed
    store = SentStore(case / "sent.sqlite")
    ids = [a["id"] for a in doc["alerts"]]
    assert all(store.was_sent(i, "webhook") and not store.was_sent(i, "email") for i in ids)
    store.close()
    # the server comes back on that port: the next run sends the mail, not the webhook again
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    inbox = _Inbox()
    ctl = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=down, tls_context=ctx,
                                         require_starttls=True, authenticator=inbox.authenticate,
                                         auth_require_tls=True, auth_required=True)
    ctl.start()
    try:
        res = runner.invoke(main, ["monitor", str(case / "panel.csv"), "--rules", str(rules),
                                   "--out", str(case / "out"), "--force", "--quiet"])
    finally:
        ctl.stop()
    assert res.exit_code == 0, res.stderr
    assert len(inbox.messages) == 1 and len(hook.posts) == 1


def test_a_missing_password_is_a_reported_failure(
    case: Path, smtp: tuple[_Inbox, int], webhook: tuple[_Hook, int],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROISTE_SMTP_PASSWORD")
    res = run_monitor(case / "panel.csv", _rules(case, smtp[1], webhook[1], retries=0),
                      case / "out", progress=False)
    email = next(d for d in res.deliveries if d.target == "email")
    assert email.status == "failed" and "ROISTE_SMTP_PASSWORD is not set" in email.error
    assert smtp[0].messages == []
