"""Soak of the tagging endpoint: two servers on one PostgreSQL store, one killed every minute.

Run by hand (it is not part of the test suite)::

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10] [--rate 500] [--kill-every 60] [--record]

All on this machine (127.0.0.1 and a throwaway PostgreSQL server on a unix socket):

1. simulates orders of returning customers (bench_serve.py's world), then shuffles them a
   little in time, so that a customer's orders often arrive out of time order;
2. starts two ``roiste serve`` processes on one PostgreSQL database;
3. a client process sends the orders at ``--rate`` requests per second in all, spread over both
   servers whatever the customer, over keep-alive HTTP/1.1 connections (a pool per server,
   opened on demand); a request that fails (its server was killed) is sent again to the other
   server until it is answered, and the failed server's pool is emptied and avoided for
   0.25 s; latency counts from the scheduled send time (no coordinated omission);
4. every ``--kill-every`` seconds one server (in turn) gets SIGKILL and is started again;
5. at the end it checks the store: every answered order recorded once, no other order recorded,
   each customer's ``new`` order the earliest of its orders, and reports latency percentiles
   outside the kill windows (from the kill to 1 s after the restarted server answers) and the
   CPU time per answered request of the servers, PostgreSQL and the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import (  # a sibling script, not a package
    ROISTE,
    SALT,
    TOKEN,
    free_port,
    machine,
    prepare_load_process,
    record_row,
    simulate_orders,
    wait_health,
)

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- the client process
HEAD = ("POST /v1/purchases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {t}\r\n"
        "Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n")


class _Pool:
    """Keep-alive connections to one server, opened on demand, at most ``size`` at once.

    A failed request (the server was killed: reset, end of stream, refused) closes its
    connection and every idle one (they lead to the same dead process), and marks the server
    down for ``down_s`` so that new requests go to the other one meanwhile.
    """

    def __init__(self, port: int, size: int, down_s: float = 0.25) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)
        self.down_until = 0.0
        self.down_s = down_s
        self.opened = 0

    def up(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self) -> None:
        self.down_until = time.monotonic() + self.down_s
        for _, w in self.idle:
            w.close()
        self.idle.clear()

    async def send(self, body: bytes, timeout: float) -> tuple[int, bytes]:
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), timeout)
                self.opened += 1
            try:
                writer.write(HEAD.format(t=TOKEN, n=len(body)).encode() + body)
                status_line = await asyncio.wait_for(reader.readline(), timeout)
                if not status_line:
                    raise ConnectionError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while True:
                    line = await asyncio.wait_for(reader.readline(), timeout)
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    elif name.strip().lower() == b"connection" and b"close" in value.lower():
                        close = True
                payload = await asyncio.wait_for(reader.readexactly(length), timeout)
            except BaseException:
                writer.close()
                raise
            if close:
                writer.close()
            else:
                self.idle.append((reader, writer))
            return status, payload


async def _one(order: dict[str, object], pools: list[_Pool], first: int,
               out: list[dict[str, object]], t_sched: float) -> None:
    body = json.dumps(order).encode()
    attempt = 0
    while True:
        # the first server up, starting from this order's own; both down: wait and try in turn
        order_of = [pools[(first + attempt + k) % len(pools)] for k in range(len(pools))]
        pool = next((p for p in order_of if p.up()), order_of[0])
        try:
            status, payload = await pool.send(body, 5.0)
            if status == 200:
                out.append({"order_id": order["order_id"], "latency": time.time() - t_sched,
                            "sent": t_sched, "attempts": attempt + 1, "port": pool.port,
                            "answer": json.loads(payload)})
                return
            if status != 503:
                out.append({"order_id": order["order_id"], "status": status, "sent": t_sched,
                            "error": payload.decode(errors="replace")})
                return
        except (TimeoutError, OSError, ConnectionError, IndexError, ValueError,
                asyncio.IncompleteReadError):
            pool.failed()
        attempt += 1
        if not any(p.up() for p in pools):
            await asyncio.sleep(0.02 * min(attempt, 10))


async def _client(spec: dict[str, object]) -> list[dict[str, object]]:
    orders = spec["orders"]
    ports = spec["ports"]
    rate, seconds = float(spec["rate"]), float(spec["seconds"])  # type: ignore[arg-type]
    pools = [_Pool(int(p), int(spec.get("connections", 16))) for p in ports]  # type: ignore[attr-defined]
    out: list[dict[str, object]] = []
    tasks = []
    t0 = time.time()
    for i, order in enumerate(orders):  # type: ignore[arg-type]
        t_sched = t0 + i / rate
        if t_sched - t0 >= seconds:
            break
        await asyncio.sleep(max(0.0, t_sched - time.time()))
        tasks.append(asyncio.create_task(_one(order, pools, i % 2, out, t_sched)))  # type: ignore[arg-type]
    await asyncio.gather(*tasks)
    out.append({"connections_opened": [p.opened for p in pools]})
    return out


def client_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    prepare_load_process()
    result = asyncio.run(_client(spec))
    result.append({"client_cpu_s": time.process_time()})
    Path(spec["out"]).write_text(json.dumps(result))


# --------------------------------------------------------------------- the driver
def _cpu_s(pid: int) -> float:
    """CPU seconds of a process and of its children it has reaped (0 when it is gone)."""
    import psutil  # a benchmark-only measurement; psutil comes with the dev tools

    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system + t.children_user + t.children_system)


def _pg_cpu_s(data_dir: Path) -> float:
    """CPU seconds of a PostgreSQL server: the postmaster, its reaped and its live children."""
    import psutil  # as above

    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = _cpu_s(pid)
    for child in psutil.Process(pid).children():
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += float(t.user + t.system)
    return total


def _start(url: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ROISTE, "serve", "--store", url, "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )


def run(args: argparse.Namespace) -> dict[str, object]:
    from roiste.tracking.orders import make_order
    from roiste.tracking.store import open_store
    from roiste.tracking.testing import TemporaryPostgres

    work = Path(tempfile.mkdtemp(prefix="roiste-soak-"))
    env = {**os.environ, "ROISTE_SALT": SALT, "ROISTE_TOKEN": TOKEN}
    seconds = args.minutes * 60.0
    need = int(seconds * args.rate * 1.05) + 1000
    orders: list[dict[str, object]] = []
    customers = 20_000
    while len(orders) < need:
        orders = simulate_orders(customers, args.seed)
        customers *= 2
    rng = np.random.default_rng(args.seed)
    # Sent roughly in time order, with neighbours swapped: a customer's later order often
    # reaches a server before an earlier one.
    keys = np.arange(len(orders)) + rng.normal(0, 200, len(orders))
    orders = [orders[i] for i in np.argsort(keys, kind="stable")][:need]

    pg = TemporaryPostgres().start()
    url = pg.new_database("soak")
    ports = [free_port(), free_port()]
    servers = [_start(url, p, env, work / f"server{i}.log") for i, p in enumerate(ports)]
    kills: list[tuple[float, float]] = []
    try:
        for s, p in zip(servers, ports, strict=True):
            wait_health(f"http://127.0.0.1:{p}/health", s)
        spec = {"ports": ports, "orders": orders, "rate": args.rate, "seconds": seconds,
                "out": str(work / "client.json")}
        (work / "spec.json").write_text(json.dumps(spec))
        assert pg.dir is not None
        pg_cpu0 = _pg_cpu_s(pg.dir / "data")
        server_cpu = -sum(_cpu_s(s.pid) for s in servers)
        client = subprocess.Popen([sys.executable, __file__, "--client", str(work / "spec.json")])
        t_start = time.time()
        victim = 0
        while client.poll() is None:
            next_kill = t_start + (len(kills) + 1) * args.kill_every
            while client.poll() is None and time.time() < next_kill:
                time.sleep(0.2)
            if client.poll() is not None or time.time() - t_start > seconds - 5:
                continue
            server_cpu += _cpu_s(servers[victim].pid)
            t_kill = time.time()
            servers[victim].send_signal(signal.SIGKILL)
            servers[victim].wait()
            servers[victim] = _start(url, ports[victim], env, work / f"server{victim}.log")
            wait_health(f"http://127.0.0.1:{ports[victim]}/health", servers[victim], timeout=60)
            kills.append((t_kill, time.time() + 1.0))
            victim = 1 - victim
        assert client.returncode == 0, "the client failed"
        results = json.loads((work / "client.json").read_text())
        client_cpu = float(results.pop()["client_cpu_s"])
        opened = results.pop()["connections_opened"]
        server_cpu += sum(_cpu_s(s.pid) for s in servers if s.poll() is None)
        pg_cpu = _pg_cpu_s(pg.dir / "data") - pg_cpu0
        with open_store(url, SALT.encode()) as store:
            snap = store.snapshot()
    finally:
        for s in servers:
            if s.poll() is None:
                s.terminate()
                s.wait(timeout=30)
        pg.stop()

    answered = [r for r in results if "answer" in r]
    refused = [r for r in results if "answer" not in r]
    recorded = {r[0]: r for r in snap["roiste_orders"]}
    answered_ids = [str(r["order_id"]) for r in answered]
    lost = [oid for oid in answered_ids if oid not in recorded]
    unanswered_recorded = sorted(set(recorded) - set(answered_ids))
    # each customer's first purchase: the earliest of its recorded orders (equal times: smaller id)
    by_id = {str(o["order_id"]): o for o in orders}
    key_of = {oid: make_order(salt=SALT.encode(), **by_id[oid]).key for oid in recorded}  # type: ignore[arg-type]
    groups: dict[str, list[tuple[int, str]]] = {}
    for oid, row in recorded.items():
        assert row[1] == key_of[oid]
        groups.setdefault(row[1], []).append((int(row[2]), oid))
    first_ok = all(
        {oid for oid in (o for _, o in rows) if recorded[oid][5] == "new"} == {min(rows)[1]}
        for rows in groups.values()
    )
    in_kill = [any(a <= float(r["sent"]) <= b for a, b in kills) for r in answered]
    lat = np.array([float(r["latency"]) for r, k in zip(answered, in_kill, strict=True) if not k]) * 1e3
    lat_all = np.array([float(r["latency"]) for r in answered]) * 1e3
    # where the slow answers outside the kill windows fall: by second of the run, and how
    # long after the end of the last kill window
    outside = [r for r, k in zip(answered, in_kill, strict=True) if not k]
    p99 = float(np.percentile(lat, 99))
    slow = [r for r in outside if float(r["latency"]) * 1e3 > p99]
    t_first = min(float(r["sent"]) for r in answered)
    slow_seconds = sorted({int(float(r["sent"]) - t_first) for r in slow})
    return {
        "minutes": args.minutes, "offered_rate": args.rate, "sent": len(results),
        "answered": len(answered), "refused": len(refused),
        "retried": sum(int(r["attempts"]) > 1 for r in answered),
        "kills": len(kills), "recorded": len(recorded), "lost": len(lost),
        "recorded_not_answered": len(unanswered_recorded),
        "counted_twice": len(answered_ids) - len(set(answered_ids)),
        "first_purchase_earliest": first_ok,
        "corrections": len(snap["roiste_corrections"]),
        "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
        "p90_ms": float(np.percentile(lat, 90)), "p999_ms": float(np.percentile(lat, 99.9)),
        "max_ms": float(lat.max()),
        "p99_ms_all": float(np.percentile(lat_all, 99)), "max_ms_all": float(lat_all.max()),
        "kill_windows_s": [round(b - a, 2) for a, b in kills],
        # CPU per answered request (server CPU includes the start-up of restarted servers)
        "cpu_ms_per_request": {
            "servers": 1e3 * server_cpu / len(answered), "postgres": 1e3 * pg_cpu / len(answered),
            "client": 1e3 * client_cpu / len(answered)},
        "connections_opened": opened,
        "slow_outside_seconds": slow_seconds[:60], "slow_outside_count": len(slow),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=500.0, help="Requests per second offered.")
    ap.add_argument("--kill-every", type=float, default=60.0, help="Seconds between kills.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="Append to benchmarks/RESULTS.md.")
    args = ap.parse_args()
    if args.client:
        client_main(args.client)
        return
    load_before = os.getloadavg()[0]
    r = run(args)
    r["load"] = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    ok = (r["lost"] == 0 and r["counted_twice"] == 0 and r["first_purchase_earliest"]
          and r["refused"] == 0 and r["p99_ms"] < 20)
    line = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {r['minutes']} | {r['offered_rate']:.0f} | {r['kills']} | "
        f"{r['answered']} | {r['retried']} | {r['lost']} | {r['counted_twice']} | "
        f"{r['recorded_not_answered']} | {'yes' if r['first_purchase_earliest'] else 'NO'} | "
        f"{r['corrections']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['p99_ms_all']:.0f} | "
        f"{r['load']} | {'yes' if ok else 'NO'} |"
    )
    print(json.dumps(r, indent=2))
    print(line)
    if args.record:
        record_row(
            "## Endpoint soak (benchmarks/bench_soak.py)",
            "Two `roiste serve` processes on one PostgreSQL database, one killed (SIGKILL) and "
            "restarted every kill interval; failed requests are sent again to the other server. "
            f"Machine: {machine()}.\n\n"
            "| date | minutes | offered req/s | kills | answered | retried | lost | counted "
            "twice | recorded, not answered | first = earliest | corrections | p50 ms | "
            "p99 ms outside kills | p99 ms all | load avg | target met |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            line,
        )


if __name__ == "__main__":
    main()
