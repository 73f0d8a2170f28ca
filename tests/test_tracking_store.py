"""The customer store, against SQLite and a real PostgreSQL server started for these tests."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from roiste.tracking import (
    ConfigError,
    OrderError,
    customer_key,
    email_digest,
    load_salt,
    normalise_email,
)
from roiste.tracking.errors import StoreError
from roiste.tracking.orders import format_timestamp, make_order, parse_timestamp
from roiste.tracking.store import open_store
from roiste.tracking.testing import TemporaryPostgres, why_not_available

SALT = b"test-salt-0123456789abcdef"
_counter = itertools.count()


@pytest.fixture(scope="module")
def postgres():
    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    with TemporaryPostgres() as pg:
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_url(request, tmp_path):
    """Makes URLs of fresh, empty stores of one kind."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path / f's{next(_counter)}' / 'store.db'}"
    pg = request.getfixturevalue("postgres")
    return lambda: pg.new_schema(f"t{next(_counter)}")


@pytest.fixture
def store_url(new_store_url):
    """A fresh, empty store of each kind."""
    return new_store_url()


def order(oid: str, email: str, ts: str, value: float = 10.0, channel: str = "search"):
    return make_order(order_id=oid, email=email, value=value, timestamp=ts, channel=channel, salt=SALT)


# ------------------------------------------------------------------------ keys and salt
def test_key_is_hmac_of_sha256_of_normalised_address() -> None:
    expected = hmac.new(
        SALT, hashlib.sha256(b"ann.lee@example.com").hexdigest().encode(), hashlib.sha256
    ).hexdigest()
    assert customer_key(email_digest("  Ann.Lee@EXAMPLE.com\t"), SALT) == expected
    by_email = order("a", "Ann.Lee@example.com ", "2024-01-01")
    by_digest = make_order(
        order_id="b", email_sha256=hashlib.sha256(b"ann.lee@example.com").hexdigest().upper(),
        value=1, timestamp="2024-01-01", channel="x", salt=SALT,
    )
    assert by_email.key == by_digest.key == expected
    assert customer_key(email_digest("ann.lee@example.com"), b"another-salt-0123456789") != expected


@pytest.mark.parametrize(
    "bad",
    ["", "plain", "a@b", "two@@x.com", "sp ace@x.com", "a@b.", "@x.com", 42, None, "x" * 250 + "@x.com",
     "nul\x00byte@example.com", "ann@example.com\x00", "esc\x1b[31m@example.com", "bell\x07@example.com",
     "zero\u200bwidth@example.com", "rtl\u202e@example.com", "del\x7f@example.com"],
)
def test_not_an_email_is_refused_without_echoing_it(bad: object) -> None:
    with pytest.raises(OrderError) as info:
        normalise_email(bad)
    assert info.value.field == "email"
    if isinstance(bad, str) and bad:
        assert bad not in str(info.value)


@pytest.mark.parametrize("field", ["order_id", "channel"])
def test_control_characters_in_order_id_and_channel_are_refused(field: str) -> None:
    fields = {"order_id": "A-1", "channel": "search"}
    with pytest.raises(OrderError, match="control character") as info:
        make_order(**{**fields, field: "A\x00-1"}, email="ann@example.com", value=1.0,
                   timestamp="2024-01-01", salt=SALT)
    assert info.value.field == field


def test_salt_comes_from_configuration_or_nothing_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ROISTE_SALT"):
        load_salt(environ={})
    with pytest.raises(ConfigError, match="at least 16"):
        load_salt(environ={"ROISTE_SALT": "short"})
    assert load_salt(environ={"ROISTE_SALT": " 0123456789abcdefg\n"}) == b"0123456789abcdefg"
    f = tmp_path / "salt"
    f.write_text("file-salt-0123456789\n")
    assert load_salt(f, environ={"ROISTE_SALT": "ignored-0123456789"}) == b"file-salt-0123456789"
    with pytest.raises(ConfigError, match="cannot read"):
        load_salt(tmp_path / "missing")


def test_timestamps_round_trip_in_utc() -> None:
    assert parse_timestamp("2024-03-01T12:00:00+02:00") == parse_timestamp("2024-03-01T10:00:00Z")
    assert parse_timestamp("2024-03-01T10:00:00") == parse_timestamp("2024-03-01T10:00:00Z")
    assert format_timestamp(parse_timestamp("2024-03-01T10:00:00.250Z")) == "2024-03-01T10:00:00.250000Z"
    with pytest.raises(OrderError, match="timestamp"):
        parse_timestamp("yesterday")


# ------------------------------------------------------------------------ the store, both kinds
def test_new_then_existing_and_replay(store_url: str) -> None:
    with open_store(store_url, SALT) as s:
        t1 = s.tag(order("o1", "ann@example.com", "2024-01-05T10:00:00Z"))
        t2 = s.tag(order("o2", " ANN@example.com", "2024-02-01T10:00:00Z"))
        t3 = s.tag(order("o3", "bob@example.com", "2024-02-02T10:00:00Z"))
        assert (t1.customer_type, t2.customer_type, t3.customer_type) == ("new", "existing", "new")
        assert t2.first_purchase_at == "2024-01-05T10:00:00Z"
        before = s.snapshot()
        # A re-sent order id of the same customer gets its answer back, whatever else it carries.
        again = s.tag(order("o1", "ann@example.com", "2030-01-01T00:00:00Z", value=99.0))
        assert (again.customer_type, again.first_purchase_at, again.replayed) == (
            "new", "2024-01-05T10:00:00Z", True,
        )
        assert s.tag(order("o2", "ann@example.com", "2024-02-01T10:00:00Z")).customer_type == "existing"
        # The same order id with another buyer is a conflict: no answer about the first buyer,
        # and nothing recorded (the second purchase is refused, not silently merged).
        other = s.tag(order("o1", "someone.else@example.com", "2023-01-01T00:00:00Z"))
        assert other.conflict and other.customer_type == "" and not other.replayed
        assert s.snapshot() == before
        assert s.counts() == {"customers": 2, "orders": 3}


def test_first_purchase_time_is_the_earliest_seen(store_url: str) -> None:
    with open_store(store_url, SALT) as s:
        assert s.tag(order("late", "cy@example.com", "2024-05-01T00:00:00Z")).customer_type == "new"
        assert s.tag(order("later", "cy@example.com", "2024-05-02T00:00:00Z")).customer_type == "existing"
        early = s.tag(order("early", "cy@example.com", "2024-04-01T00:00:00Z"))
        # The earlier purchase arrived last: it is the first one, and the order answered "new"
        # before is corrected to "existing", with the correction recorded.
        assert (early.customer_type, early.first_purchase_at, early.corrects) == (
            "new", "2024-04-01T00:00:00Z", "late",
        )
        again = s.tag(order("late", "cy@example.com", "2024-05-01T00:00:00Z"))
        assert (again.customer_type, again.first_purchase_at, again.replayed) == (
            "existing", "2024-04-01T00:00:00Z", True,
        )
        assert s.tag(order("next", "cy@example.com", "2024-06-01")).first_purchase_at == "2024-04-01T00:00:00Z"
        snap = s.snapshot()
    april = parse_timestamp("2024-04-01T00:00:00Z")
    assert snap["roiste_corrections"] == [("late", "new", "existing", "early", april)]
    assert {r[0]: (r[5], r[6]) for r in snap["roiste_orders"]} == {
        "early": ("new", april), "late": ("existing", april), "later": ("existing", april),
        "next": ("existing", april),
    }


def _final_state(snap: dict) -> dict:
    """What must not depend on arrival order: customers, and each order's answer."""
    return {
        "customers": snap["roiste_customers"],
        "orders": sorted((r[0], r[1], r[5], r[6]) for r in snap["roiste_orders"]),
    }


def test_the_first_purchase_does_not_depend_on_arrival_order(new_store_url) -> None:
    # Two customers, four orders each (two at the same instant: the smaller order id is first);
    # every one of the 8! / (4! 4!) * 4! * 4! arrival orders would do, a sample of 24 is tried.
    rows = [("d3", "dan@example.com", "2024-03-03"), ("d1", "dan@example.com", "2024-03-01"),
            ("d4", "dan@example.com", "2024-03-04"), ("d2", "dan@example.com", "2024-03-02"),
            ("e2", "eva@example.com", "2024-02-01"), ("e1", "eva@example.com", "2024-02-01"),
            ("e9", "eva@example.com", "2024-01-15"), ("e5", "eva@example.com", "2024-06-01")]
    truth_new = {"d1", "e9"}  # the earliest purchase of each customer, found by hand
    perms = list(itertools.permutations(range(len(rows))))[:: 40320 // 24][:24]
    states = []
    for perm in perms:
        with open_store(new_store_url(), SALT) as s:
            answers = {rows[i][0]: s.tag(order(*rows[i])) for i in perm}
            snap = s.snapshot()
        state = _final_state(snap)
        assert {oid for oid, _, kind, _ in state["orders"] if kind == "new"} == truth_new
        # Each order answered "new" that is not the first purchase was corrected, and said so.
        wrongly_new = {oid for oid, t in answers.items() if t.customer_type == "new"} - truth_new
        assert {r[0] for r in snap["roiste_corrections"]} == wrongly_new
        assert {t.corrects for t in answers.values() if t.corrects} == wrongly_new
        states.append(state)
    assert all(st == states[0] for st in states)


def test_a_transaction_is_all_or_nothing(store_url: str) -> None:
    with open_store(store_url, SALT) as s:
        s.tag(order("keep", "dee@example.com", "2024-01-01"))
        before = s.snapshot()
        bad = order("x2", "eve@example.com", "2024-01-02")
        object.__setattr__(bad, "order_id", None)  # NOT NULL: the database refuses the row
        with pytest.raises(StoreError):
            s.tag_many([order("x1", "fay@example.com", "2024-01-02"), bad])
        assert s.snapshot() == before


def test_a_store_refuses_another_salt(store_url: str) -> None:
    open_store(store_url, SALT).close()
    with pytest.raises(StoreError, match="salt differs"):
        open_store(store_url, b"another-salt-0123456789")


def test_no_raw_address_in_the_store(store_url: str, request) -> None:
    emails = [f"Person.{i}@Example.org" for i in range(50)]
    with open_store(store_url, SALT) as s:
        s.tag_many([order(f"o{i}", e, f"2024-01-{1 + i % 28:02d}") for i, e in enumerate(emails)])
        text = json.dumps(s.snapshot()).lower()
    needles = {e.lower() for e in emails} | {e.split("@")[0].lower() for e in emails}
    assert not [n for n in needles if n in text]
    # The bytes on disk too: the SQLite file and its log, or the PostgreSQL cluster's files.
    if store_url.startswith("sqlite"):
        root = Path(store_url[len("sqlite:///"):]).parent
    else:
        root = request.getfixturevalue("postgres").dir
    pattern = re.compile("|".join(re.escape(n) for n in sorted(needles)).encode(), re.IGNORECASE)
    files = [p for p in Path(root).rglob("*") if p.is_file()]
    assert files
    assert not [(p.name, m.group()) for p in files for m in [pattern.search(p.read_bytes())] if m]


def test_a_lost_postgres_connection_is_reopened(postgres) -> None:
    url = postgres.new_schema(f"t{next(_counter)}")
    with open_store(url, SALT) as s:
        assert s.tag(order("r1", "ivy@example.com", "2024-01-01")).customer_type == "new"
        postgres.restart()
        with pytest.raises(StoreError, match="connection"):
            s.tag(order("r2", "ivy@example.com", "2024-01-02"))  # answered 503 by the server
        assert s.tag(order("r2", "ivy@example.com", "2024-01-02")).customer_type == "existing"
        assert s.counts() == {"customers": 1, "orders": 2}


# ------------------------------------------------------------------------ processes
WORKER = textwrap.dedent(
    """
    import json, sys
    from roiste.tracking.orders import make_order
    from roiste.tracking.store import open_store
    url, orders_path, out_path, chunk, sync = sys.argv[1:6]
    salt = b"test-salt-0123456789abcdef"
    rows = json.load(open(orders_path))
    orders = [make_order(salt=salt, **r) for r in rows]
    with open_store(url, salt, synchronous=sync) as s, open(out_path, "a") as out:
        for i in range(0, len(orders), int(chunk)):
            for t in s.tag_many(orders[i:i + int(chunk)]):
                out.write(json.dumps([t.order_id, t.customer_type, t.first_purchase_us]) + "\\n")
            out.flush()
    """
)


def _spawn(url: str, rows: list[dict], work: Path, name: str, chunk: int, sync: str = "NORMAL"):
    src = work / f"{name}.json"
    src.write_text(json.dumps(rows))
    out = work / f"{name}.out"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(src), str(out), str(chunk), sync],
        stderr=subprocess.PIPE,
    )
    return proc, out


def _answers(path: Path) -> dict[str, tuple[str, int]]:
    if not path.exists():
        return {}
    return {oid: (kind, us) for oid, kind, us in map(json.loads, path.read_text().splitlines())}


def test_eight_processes_one_new_per_customer(store_url: str, tmp_path: Path) -> None:
    # 1,000 customers, 4 orders each; order j of customer c goes to process (c + 2 j) % 8, so
    # four processes race on every customer, and every pair of processes shares customers.
    n_customers, n_proc, per_customer = 1000, 8, 4
    parts: list[list[dict]] = [[] for _ in range(n_proc)]
    first_time: dict[str, int] = {}
    first_order: dict[str, int] = {}
    by_customer: dict[int, list[str]] = {}
    for c in range(n_customers):
        for j in range(per_customer):
            ts = f"2024-{1 + (c * 7 + j * 3) % 12:02d}-{1 + (c + 5 * j) % 28:02d}T10:00:00Z"
            first_order[f"c{c}-{j}"] = parse_timestamp(ts)
            by_customer.setdefault(c, []).append(f"c{c}-{j}")
            row = {"order_id": f"c{c}-{j}", "email": f"buyer{c}@shop.example", "value": 1.0,
                   "timestamp": ts, "channel": f"ch{j}"}
            parts[(c + 2 * j) % n_proc].append(row)
            first_time[f"buyer{c}"] = min(first_time.get(f"buyer{c}", 1 << 62), parse_timestamp(ts))
    for p in parts:
        p.sort(key=lambda r: r["timestamp"])
    procs = [_spawn(store_url, rows, tmp_path, f"w{i}", chunk=10) for i, rows in enumerate(parts)]
    for proc, _ in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    answers: dict[str, tuple[str, int]] = {}
    for _, out in procs:
        answers.update(_answers(out))
    assert len(answers) == n_customers * per_customer
    with open_store(store_url, SALT) as s:
        snap = s.snapshot()
    assert len(snap["roiste_customers"]) == n_customers and len(snap["roiste_orders"]) == 4000
    # Exactly one first purchase per customer, the earliest (equal times: the smaller id).
    truth_new = {min(oids, key=lambda o: (first_order[o], o)) for oids in by_customer.values()}
    stored_new = {r[0] for r in snap["roiste_orders"] if r[5] == "new"}
    assert stored_new == truth_new
    keys = {order("k", f"buyer{c}@shop.example", "2024-01-01").key: f"buyer{c}" for c in range(n_customers)}
    for key, first_us, new_order_id, _ in snap["roiste_customers"]:
        assert first_us == first_time[keys[key]] and new_order_id in truth_new
    # Every other order answered "new" (it arrived before an earlier one) was corrected.
    answered_new = {oid for oid, (kind, _) in answers.items() if kind == "new"}
    assert {r[0] for r in snap["roiste_corrections"]} == answered_new - truth_new


def test_killed_process_loses_nothing_and_rerun_changes_nothing(
    store_url: str, new_store_url, tmp_path: Path
) -> None:
    rows = [
        {"order_id": f"k{i}", "email": f"user{i % 400}@shop.example", "value": float(i % 50),
         "timestamp": format_timestamp(parse_timestamp("2024-01-01") + i * 60_000_000),
         "channel": "search"}
        for i in range(1500)
    ]
    # The reference: the same orders tagged in one uninterrupted run on a fresh store.
    proc, ref_out = _spawn(new_store_url(), rows, tmp_path, "ref", chunk=1500)
    assert proc.wait(timeout=120) == 0
    reference = _answers(ref_out)

    # A durable run (an fsync per commit on SQLite) in small transactions, killed mid-way.
    proc, out = _spawn(store_url, rows, tmp_path, "victim", chunk=10, sync="FULL")
    deadline = time.time() + 60
    while time.time() < deadline and len(_answers(out)) < 100:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    reported = _answers(out)
    with open_store(store_url, SALT) as s:
        recorded = {r[0]: (r[5], r[6]) for r in s.snapshot()["roiste_orders"]}
    assert 100 <= len(reported) <= len(recorded) < len(rows)
    # Nothing lost: every answer the killed run gave is in the store, unchanged.
    assert {oid: recorded[oid] for oid in reported} == reported

    proc, out2 = _spawn(store_url, rows, tmp_path, "rerun", chunk=50)
    assert proc.wait(timeout=120) == 0
    assert _answers(out2) == reference
    with open_store(store_url, SALT) as s:
        done = s.snapshot()
    proc, out3 = _spawn(store_url, rows, tmp_path, "again", chunk=50)
    assert proc.wait(timeout=120) == 0
    assert _answers(out3) == reference
    with open_store(store_url, SALT) as s:
        assert s.snapshot() == done
    assert sum(kind == "new" for kind, _ in reference.values()) == 400
