"""``roiste serve``: a real uvicorn server on a loopback port, answers and refusals."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.customers import ChannelTruth, simulate_customer_orders
from roiste.optimizer.cli import main
from roiste.tracking.store import open_store

SALT = "serve-salt-0123456789abcdef"
TOKEN = "serve-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
SENT: set[str] = set()  # every address sent to the server, searched for in its logs and store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve")
    port, db, log = _free_port(), work / "store.db", work / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "roiste.optimizer.cli", "serve", "--store", f"sqlite:///{db}",
         "--port", str(port), "--log-level", "debug", "--access-log"],
        cwd=ROOT, env={**os.environ, "ROISTE_SALT": SALT, "ROISTE_TOKEN": TOKEN},
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while True:
        try:
            if _request(port, "GET", "/health")[0] == 200:
                break
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.time() < deadline, "the server did not come up"
        time.sleep(0.1)
    yield {"port": port, "url": f"sqlite:///{db}", "db": db, "log": log}
    proc.terminate()
    proc.wait(timeout=30)


def _request(port: int, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else {}, dict(resp.getheaders())
    finally:
        conn.close()


def _post(port: int, payload: object, token: str | None = TOKEN, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if isinstance(payload, dict) and isinstance(payload.get("email"), str):
        SENT.add(payload["email"].strip().lower())
    body = raw if raw is not None else json.dumps(payload).encode()
    return _request(port, "POST", "/v1/purchases", body, headers)


def _snapshot(url: str):
    with open_store(url, SALT.encode()) as s:
        return s.snapshot()


def test_health_and_openapi(server) -> None:
    status, body, _ = _request(server["port"], "GET", "/health")
    assert (status, body) == (200, {"status": "ok"})
    status, schema, _ = _request(server["port"], "GET", "/openapi.json")
    assert status == 200
    op = schema["paths"]["/v1/purchases"]["post"]
    body_schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert {"order_id", "value", "timestamp", "channel"} <= set(body_schema["required"])
    assert {"email", "email_sha256"} <= set(body_schema["properties"])
    assert op["security"] == [{"bearer": []}]
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"200", "400", "401", "413", "422"} <= set(op["responses"])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _request(server["port"], "GET", "/v1/purchases", headers=auth)[:2] == (
        405, {"error": "Method Not Allowed"}
    )
    assert _request(server["port"], "GET", "/nowhere")[:2] == (404, {"error": "Not Found"})


def test_answers_equal_the_batch_command(server, tmp_path: Path) -> None:
    world = simulate_customer_orders(
        [ChannelTruth("search", 12, 50, 0.5, 0.9, 40), ChannelTruth("social", 8, 30, 0.4, 0.8, 30)],
        months=3, seed=4,
    )
    orders = world[["order_id", "timestamp", "value", "channel", "email"]].copy()
    orders["order_id"] = "srv-" + orders["order_id"]
    answers = {}
    for rec in orders.to_dict("records"):  # time order, as a tag manager would send them
        status, body, _ = _post(server["port"], rec)
        assert status == 200, body
        answers[rec["order_id"]] = (body["customer_type"], body["first_purchase_at"])
    src = tmp_path / "orders.csv"
    orders.sample(frac=1.0, random_state=0).to_csv(src, index=False)
    r = CliRunner().invoke(
        main, ["customers", "tag", str(src), "--store", f"sqlite:///{tmp_path}/b.db",
               "--out", str(tmp_path / "t.csv"), "--quiet"], env={"ROISTE_SALT": SALT},
    )
    assert r.exit_code == 0, r.output
    batch = pd.read_csv(tmp_path / "t.csv", dtype=str).set_index("order_id")
    assert answers == {
        oid: (batch.loc[oid, "customer_type"], batch.loc[oid, "first_purchase_at"]) for oid in answers
    }
    assert sum(kind == "new" for kind, _ in answers.values()) == world["customer_key"].nunique()
    # a re-sent order gets its first answer; with another buyer's address it is refused (409)
    # with nothing about the first buyer in the answer, and nothing changes
    first = orders.iloc[0].to_dict()
    status, body, _ = _post(server["port"], {**first, "value": 1.0})
    assert (status, (body["customer_type"], body["first_purchase_at"])) == (200, answers[first["order_id"]])
    before = _snapshot(server["url"])
    status, body, _ = _post(server["port"], {**first, "email": "other.person@example.com"})
    assert (status, body) == (409, {"error": "field 'order_id': already recorded for another customer"})
    assert _snapshot(server["url"]) == before


def test_an_earlier_purchase_arriving_late_is_the_first_one(server) -> None:
    base = {"email": "Late.Reveal@example.com", "value": 20.0, "channel": "search"}
    sent = [("lr-2", "2024-07-02T09:00:00Z"), ("lr-3", "2024-07-03T09:00:00Z"),
            ("lr-1", "2024-07-01T09:00:00Z")]
    got = [_post(server["port"], {**base, "order_id": oid, "timestamp": ts}) for oid, ts in sent]
    assert [g[0] for g in got] == [200, 200, 200]
    assert got[0][1] == {"customer_type": "new", "first_purchase_at": "2024-07-02T09:00:00Z"}
    assert got[1][1] == {"customer_type": "existing", "first_purchase_at": "2024-07-02T09:00:00Z"}
    assert got[2][1] == {"customer_type": "new", "first_purchase_at": "2024-07-01T09:00:00Z",
                         "corrects": "lr-2"}
    # re-sent, each order gets the corrected answer
    for oid, ts in sent[:2]:
        status, body, _ = _post(server["port"], {**base, "order_id": oid, "timestamp": ts})
        assert (status, body) == (200, {"customer_type": "existing",
                                        "first_purchase_at": "2024-07-01T09:00:00Z"})
    snap = _snapshot(server["url"])
    assert [r for r in snap["roiste_corrections"] if r[0].startswith("lr-")] == [
        ("lr-2", "new", "existing", "lr-1", 1719824400000000)
    ]


GOOD = {"order_id": "bad-0", "email": "Rita.Refused@example.com", "value": 12.5,
        "timestamp": "2024-05-01T10:00:00Z", "channel": "search"}


@pytest.mark.parametrize(
    ("case", "token", "payload", "raw", "status"),
    [
        ("no token", None, GOOD, None, 401),
        ("wrong token", "not-the-token-0123456789", GOOD, None, 401),
        ("malformed JSON", TOKEN, None, b'{"order_id": "bad-1", "email": ', 400),
        ("missing field", TOKEN, {k: v for k, v in GOOD.items() if k != "channel"}, None, 422),
        ("not an e-mail", TOKEN, {**GOOD, "email": "rita.refused.example.com"}, None, 422),
        ("NUL in e-mail", TOKEN, {**GOOD, "email": "rita.refused@example.com\u0000"}, None, 422),
        ("escape in e-mail", TOKEN, {**GOOD, "email": "rita\u001b.refused@example.com"}, None, 422),
        ("NUL in order id", TOKEN, {**GOOD, "order_id": "bad\u00002"}, None, 422),
        ("no address", TOKEN, {k: v for k, v in GOOD.items() if k != "email"}, None, 422),
        ("bad digest", TOKEN, {**GOOD, "email": None, "email_sha256": "abc"}, None, 422),
        ("value as text", TOKEN, {**GOOD, "value": "12.5"}, None, 422),
        ("negative value", TOKEN, {**GOOD, "value": -1}, None, 422),
        ("unknown field", TOKEN, {**GOOD, "phone": "+353 1 000000"}, None, 422),
        ("not an object", TOKEN, [GOOD], None, 422),
        ("1 MB body", TOKEN, None, b'{"order_id": "' + b"x" * (1 << 20) + b'"}', 413),
    ],
)
def test_bad_requests_get_4xx_and_change_nothing(server, case, token, payload, raw, status) -> None:
    before = _snapshot(server["url"])
    got, body, headers = _post(server["port"], payload, token=token, raw=raw)
    assert got == status, (case, body)
    assert set(body) == {"error"} and "\n" not in body["error"], body
    assert headers.get("content-type", "").startswith("application/json")
    if status == 401:
        assert headers.get("www-authenticate") == "Bearer"
    assert "rita" not in body["error"].lower()  # the address is never echoed
    assert _snapshot(server["url"]) == before


def test_serve_refuses_to_start_without_token_or_salt(tmp_path: Path) -> None:
    args = ["serve", "--store", f"sqlite:///{tmp_path}/s.db", "--port", str(_free_port())]
    r = CliRunner().invoke(main, args, env={"ROISTE_SALT": SALT, "ROISTE_TOKEN": ""})
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        "error: no token configured: set ROISTE_TOKEN to the bearer token clients send"
    ]
    r = CliRunner().invoke(main, args, env={"ROISTE_SALT": "", "ROISTE_TOKEN": TOKEN})
    assert r.exit_code == 2 and "no salt configured" in r.stderr


def test_no_raw_address_in_the_logs_or_the_store(server) -> None:
    # Runs after the others in this file: everything sent so far has been logged and stored.
    assert len(SENT) > 20
    status, _, _ = _post(server["port"], {**GOOD, "order_id": "log-1", "email": "Last.Sent@example.com"})
    assert status == 200
    time.sleep(0.3)  # let the access log reach the file
    log = server["log"].read_bytes().lower()
    assert b"post /v1/purchases" in log  # the access log is on: there is something to search
    files = [p.read_bytes().lower() for p in server["db"].parent.iterdir() if p.name.startswith("store.db")]
    for blob in [log, *files]:
        assert not [a for a in SENT if a.encode() in blob]
