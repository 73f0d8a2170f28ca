"""``roiste customers tag``: answers, idempotence, bad input, a killed run, no address in outputs."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.customers import ChannelTruth, cohort_table, simulate_customer_orders
from roiste.optimizer.cli import main
from roiste.tracking.store import open_store

SALT = "batch-salt-0123456789abcdef"
ENV = {"ROISTE_SALT": SALT}
ROOT = Path(__file__).resolve().parents[1]
WORLD = [
    ChannelTruth("search", new_per_month=40, first_value=60, repeat_prob=0.4, survival=0.9, repeat_value=45),
    ChannelTruth("social", new_per_month=30, first_value=40, repeat_prob=0.3, survival=0.8, repeat_value=35),
]


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    """A simulated world tagged by construction; addresses written in varied case and spaces."""
    w = simulate_customer_orders(WORLD, months=5, seed=11)
    w["email"] = [
        f"  {e.upper()} " if i % 5 == 0 else e.capitalize() if i % 3 == 0 else e
        for i, e in enumerate(w["email"])
    ]
    return w


def _input(world: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    # Shuffled: the command must put the orders in time order itself.
    return world[["order_id", "timestamp", "value", "channel", "email"]].sample(frac=1.0, random_state=seed)


def _tag(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["customers", "tag", *args, "--quiet"], env=env or ENV)


def _snapshot(url: str):
    with open_store(url, SALT.encode()) as s:
        return s.snapshot()


def test_tagging_reproduces_the_simulated_truth(world, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    src, out, store = tmp_path / "orders.csv", tmp_path / "tagged.csv", tmp_path / "store.db"
    inp = _input(world)
    inp.to_csv(src, index=False)
    r = _tag([str(src), "--store", f"sqlite:///{store}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"{len(world)} orders" in r.stdout
    tagged = pd.read_csv(out, dtype=str)
    assert list(tagged["order_id"]) == list(inp["order_id"])  # input order kept
    assert "email" not in tagged.columns
    truth = world.set_index("order_id").loc[tagged["order_id"]]
    assert list(tagged["customer_type"]) == list(truth["customer_type"])
    assert list(tagged["first_purchase_at"]) == list(truth["first_purchase_at"])
    # one key per customer, whatever the spelling of the address
    pairs = set(zip(truth["customer_key"], tagged["customer_key"], strict=True))
    assert len(pairs) == truth["customer_key"].nunique() == tagged["customer_key"].nunique()
    # the tagged file feeds the cohorts exactly as the truth does
    mine = cohort_table(tagged.assign(value=tagged["value"].astype(float)))
    pd.testing.assert_frame_equal(mine, cohort_table(world))
    # no raw address in the output, the store's bytes, the command's output or the logs
    addresses = {e.strip().lower() for e in world["email"]}
    haystacks = [out.read_bytes().lower(), r.output.lower().encode(), caplog.text.lower().encode()]
    haystacks += [p.read_bytes().lower() for p in tmp_path.iterdir() if p.name.startswith("store.db")]
    for blob in haystacks:
        assert not [a for a in addresses if a.encode() in blob]


def test_hashed_addresses_and_parquet_give_the_same_answers(world, tmp_path: Path) -> None:
    inp = _input(world, seed=1)
    inp.to_csv(tmp_path / "a.csv", index=False)
    assert _tag([str(tmp_path / "a.csv"), "--store", f"sqlite:///{tmp_path}/a.db",
                 "--out", str(tmp_path / "a.csv.out.csv")]).exit_code == 0
    hashed = inp.copy()
    digest = [hashlib.sha256(e.strip().lower().encode()).hexdigest() for e in hashed["email"]]
    hashed["email_sha256"] = digest
    hashed.loc[hashed.index[::2], "email"] = None  # half the rows carry only the digest
    hashed.to_parquet(tmp_path / "b.parquet", index=False)
    r = _tag([str(tmp_path / "b.parquet"), "--store", f"sqlite:///{tmp_path}/b.db",
              "--out", str(tmp_path / "b.parquet.out.parquet")])
    assert r.exit_code == 0, r.output
    a = pd.read_csv(tmp_path / "a.csv.out.csv", dtype=str)
    b = pd.read_parquet(tmp_path / "b.parquet.out.parquet")
    assert "email_sha256" not in b.columns
    for col in ("order_id", "customer_key", "customer_type", "first_purchase_at"):
        assert list(a[col]) == list(b[col])


def test_a_second_run_changes_nothing(world, tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    _input(world).to_csv(src, index=False)
    url = f"sqlite:///{tmp_path}/store.db"
    assert _tag([str(src), "--store", url, "--out", str(tmp_path / "one.csv")]).exit_code == 0
    before = _snapshot(url)
    r = _tag([str(src), "--store", url, "--out", str(tmp_path / "two.csv")])
    assert r.exit_code == 0 and f"({len(world)} already in the store)" in r.stdout
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert _snapshot(url) == before


GOOD = "order_id,timestamp,value,channel,email\n1,2024-01-01T10:00:00Z,10,search,ann@example.com\n"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("order_id,timestamp,value,email\n1,2024-01-01,10,ann@example.com\n", r"missing column\(s\) 'channel'"),
        (GOOD + "2,2024-01-02,5,search,ann.example.com\n", r"row 3, column 'email': not an e-mail"),
        (GOOD + "2,31/01/2024,5,search,bob@example.com\n", r"row 3, column 'timestamp'"),
        (GOOD + "2,2024-01-02,-3,search,bob@example.com\n", r"row 3, column 'value': must be a finite"),
        (GOOD + "2,2024-01-02,abc,search,bob@example.com\n", r"row 3, column 'value'"),
        (GOOD + ",2024-01-02,1,search,bob@example.com\n", r"row 3, column 'order_id'"),
        (GOOD + "2,2024-01-02,1,,bob@example.com\n", r"row 3, column 'channel'"),
        (GOOD + "2,2024-01-02,1,search,\n", r"row 3, column 'email': missing"),
        ("order_id,timestamp,value,channel,email\n", r"no orders"),
        (GOOD + "1,2024-01-02,5,search,bob@example.com\n",
         r"row 3, column 'order_id': the same order id as row 2 with another customer"),
        (GOOD + "2,2024-01-02,5,search,bob\x1b@example.com\n", r"row 3, column 'email': holds a control"),
        (GOOD + "2,2024-01-02,5,sea\x07rch,bob@example.com\n", r"row 3, column 'channel': holds a control"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_records_nothing(text: str, pattern: str, tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(text)
    out = tmp_path / "tagged.csv"
    r = _tag([str(src), "--store", f"sqlite:///{tmp_path}/store.db", "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {src}") and "Traceback" not in r.output
    assert re.search(pattern, lines[0]), lines[0]
    assert "ann.example.com" not in r.output
    assert not out.exists() and not (tmp_path / "store.db").exists()


EXTRA = (
    "order_id,timestamp,value,channel,email,billing_email,shipTo Street,market,note,contact\n"
    "1,2024-01-01T10:00:00Z,10,search,ann@example.com,ann.bills@example.com,1 Main St,IE,gift,none\n"
    "2,2024-01-02T10:00:00Z,12,social,bob@example.com,bob.bills@example.com,2 High St,FR,"
    "ask bob.b@example.org,+353 1 234 5678\n"
)


def test_tagged_output_has_only_the_documented_columns_and_those_kept(tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(EXTRA)
    url = f"sqlite:///{tmp_path}/store.db"
    out = tmp_path / "tagged.csv"
    assert _tag([str(src), "--store", url, "--out", str(out)]).exit_code == 0
    documented = ["order_id", "timestamp", "value", "channel", "customer_key", "customer_type",
                  "first_purchase_at"]
    assert list(pd.read_csv(out).columns) == documented
    text = out.read_text().lower()
    assert "@" not in text and "main st" not in text and "353" not in text
    r = _tag([str(src), "--store", url, "--out", str(tmp_path / "kept.csv"), "--keep", "market"])
    assert r.exit_code == 0, r.output
    kept = pd.read_csv(tmp_path / "kept.csv")
    assert list(kept.columns) == [*documented[:4], "market", *documented[4:]]
    assert list(kept["market"]) == ["IE", "FR"]


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("billing_email", "its name holds the word 'email'"),
        ("shipTo Street", "its name holds the word 'street'"),
        ("note", "a value looks like an e-mail address"),
        ("contact", "a value looks like a phone number"),
        ("email", None),
        ("nowhere", None),
    ],
)
def test_a_column_that_looks_like_an_address_is_not_kept(tmp_path: Path, column: str, reason) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(EXTRA)
    out = tmp_path / "tagged.csv"
    r = _tag([str(src), "--store", f"sqlite:///{tmp_path}/store.db", "--out", str(out),
              "--keep", f"market,{column}"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {src}: ") and f"'{column}'" in lines[0]
    if reason:
        assert lines[0].endswith(f"cannot be kept: it looks like an address ({reason})")
    assert "@" not in r.output
    assert not out.exists() and not (tmp_path / "store.db").exists()


def test_an_order_id_stored_for_another_customer_stops_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    first = tmp_path / "first.csv"
    first.write_text(GOOD)
    assert _tag([str(first), "--store", url, "--out", str(tmp_path / "one.csv")]).exit_code == 0
    before = _snapshot(url)
    second = tmp_path / "second.csv"
    second.write_text(GOOD.splitlines()[0] + "\n9,2024-01-03,5,search,cat@example.com\n"
                      "1,2024-01-04,7,search,bob@example.com\n")
    out = tmp_path / "two.csv"
    r = _tag([str(second), "--store", url, "--out", str(out)])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {second}: row 3, column 'order_id': already recorded in the store for another customer"
    ]
    assert _snapshot(url) == before and not out.exists()


def test_no_salt_no_run(tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(GOOD)
    r = _tag([str(src), "--store", f"sqlite:///{tmp_path}/s.db", "--out", str(tmp_path / "o.csv")], env={"ROISTE_SALT": ""})
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        "error: no salt configured: set ROISTE_SALT or pass --salt-file (a secret kept outside the repository)"
    ]
    salt = tmp_path / "salt.txt"
    salt.write_text(SALT + "\n")
    r = _tag([str(src), "--store", f"sqlite:///{tmp_path}/s.db", "--out", str(tmp_path / "o.csv"),
              "--salt-file", str(salt)], env={"ROISTE_SALT": ""})
    assert r.exit_code == 0, r.output


def _cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "roiste.optimizer.cli", "customers", "tag", *args, "--quiet"],
        cwd=ROOT, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _recorded(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM roiste_orders").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_killed_run_is_finished_by_running_it_again(tmp_path: Path) -> None:
    n = 3000
    rows = pd.DataFrame(
        {
            "order_id": [f"K{i:05d}" for i in range(n)],
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="37min").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "value": [f"{(i % 90) + 0.5:.2f}" for i in range(n)],
            "channel": [("search", "social", "email")[i % 3] for i in range(n)],
            "email": [f"client{(i * 7919) % 900}@shop.example" for i in range(n)],
        }
    )
    src = tmp_path / "orders.csv"
    rows.to_csv(src, index=False)
    ref = _cli(str(src), "--store", f"sqlite:///{tmp_path}/ref.db", "--out", str(tmp_path / "ref.csv"))
    assert ref.wait(timeout=120) == 0, ref.stderr.read() if ref.stderr else ""

    db, out = tmp_path / "store.db", tmp_path / "tagged.csv"
    # Durable commits of 20 orders: slow enough to be killed part-way.
    victim = _cli(str(src), "--store", f"sqlite:///{db}", "--out", str(out), "--chunk-size", "20", "--durable")
    deadline = time.time() + 90
    while time.time() < deadline and _recorded(db) < 100 and victim.poll() is None:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    partial = _recorded(db)
    assert 100 <= partial < n
    assert not out.exists()  # no half-written output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tagged")]

    again = _cli(str(src), "--store", f"sqlite:///{db}", "--out", str(out))
    assert again.wait(timeout=120) == 0
    assert f"({partial} already in the store)".encode() in (again.stdout.read() if again.stdout else b"")
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    url = f"sqlite:///{db}"
    before = _snapshot(url)
    third = _cli(str(src), "--store", url, "--out", str(out))
    assert third.wait(timeout=120) == 0
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes() and _snapshot(url) == before
