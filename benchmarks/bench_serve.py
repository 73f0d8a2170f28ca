"""Load test of ``roiste serve``: throughput, latency, errors, and answers equal to the batch.

Run by hand (it is not part of the test suite)::

    .venv/bin/python benchmarks/bench_serve.py [--seconds 20] [--connections 8] [--store sqlite]

What it does, all on this machine (127.0.0.1 only):

1. simulates orders of returning customers (e-mail addresses of a made-up domain);
2. tags them with ``roiste customers tag`` into a fresh store (the reference answers);
3. starts ``roiste serve`` on a second, fresh store and a free loopback port;
4. a second process sends the orders as ``POST /v1/purchases`` over keep-alive connections for
   a bounded time (each customer's orders on one connection, in time order, so the answers must
   equal the batch's), paced at ``--rate`` requests per second in all (or, with ``--rate 0``,
   each connection as fast as answers come back), measuring the latency of each request;
5. prints requests per second, latency percentiles, errors and mismatches, and with ``--record``
   appends them to benchmarks/RESULTS.md with the machine.

``--store postgresql`` runs the server against a throwaway PostgreSQL server instead of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROISTE = [sys.executable, "-m", "roiste.optimizer.cli"]
TOKEN = "bench-token-0123456789abcdef"
SALT = "bench-salt-0123456789abcdef"


def simulate_orders(n_customers: int, seed: int) -> list[dict[str, object]]:
    """Orders of customers who come back with a geometric number of repeat purchases."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    channels = ["search", "social", "email", "affiliate", "display"]
    orders: list[dict[str, object]] = []
    for c in range(n_customers):
        t = start + timedelta(seconds=float(rng.uniform(0, 300 * 86400)))
        n = 1 + int(rng.geometric(0.45)) - 1
        email = f"  Customer.{c:06d}@Example.org " if c % 7 == 0 else f"customer.{c:06d}@example.org"
        for _ in range(n):
            orders.append(
                {
                    "order_id": f"B{len(orders):07d}",
                    "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "value": round(float(rng.lognormal(3.5, 0.6)), 2),
                    "channel": channels[int(rng.integers(len(channels)))],
                    "email": email,
                }
            )
            t += timedelta(seconds=float(rng.exponential(40 * 86400)))
    orders.sort(key=lambda o: (o["timestamp"], o["order_id"]))
    return orders


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------- the client process
async def _connection(
    host: str,
    port: int,
    orders: list[dict[str, object]],
    deadline: float,
    out: list[tuple[str, int, float, bytes]],
    interval: float,
    start: float,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        "POST /v1/purchases HTTP/1.1\r\nHost: {h}\r\nAuthorization: Bearer {t}\r\n"
        "Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n"
    )
    scheduled = start
    for o in orders:
        if time.perf_counter() >= deadline:
            break
        body = json.dumps(o).encode()
        req = head.format(h=host, t=TOKEN, n=len(body)).encode() + body
        if interval > 0:
            # Paced: latency counts from the scheduled send time, so a slow answer that
            # delays the next request is charged to it too (no coordinated omission).
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            t0 = scheduled
            scheduled += interval
        else:
            t0 = time.perf_counter()
        writer.write(req)
        status = int((await reader.readline()).split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await reader.readexactly(length)
        out.append((str(o["order_id"]), status, time.perf_counter() - t0, payload))
    writer.close()


async def _client(
    host: str, port: int, parts: list[list[dict[str, object]]], seconds: float, rate: float
) -> dict[str, object]:
    out: list[tuple[str, int, float, bytes]] = []
    t0 = time.perf_counter()
    interval = len(parts) / rate if rate > 0 else 0.0
    await asyncio.gather(
        *(
            _connection(host, port, p, t0 + seconds, out, interval, t0 + i * interval / len(parts))
            for i, p in enumerate(parts)
        )
    )
    elapsed = time.perf_counter() - t0
    lat = np.array([r[2] for r in out]) * 1000.0
    answers = {r[0]: json.loads(r[3]) for r in out if r[1] == 200}
    return {
        "requests": len(out),
        "elapsed_s": elapsed,
        "rps": len(out) / elapsed,
        "errors": sum(r[1] != 200 for r in out),
        "p50_ms": float(np.percentile(lat, 50)),
        "p90_ms": float(np.percentile(lat, 90)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "answers": answers,
    }


def prepare_load_process() -> None:
    """Set up a load-generating process: uvloop when installed, and no garbage collector.

    The load generator must not stall on its own garbage collections (they would be counted
    as server latency): a bounded run needs no collector.
    """
    try:
        # uvloop is optional: a faster event loop for the load generator when installed
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    gc.collect()
    gc.freeze()
    gc.disable()


def client_main(spec_path: str) -> None:
    """Entry of the load-generating process: reads its work, writes its measurements."""
    spec = json.loads(Path(spec_path).read_text())
    prepare_load_process()
    result = asyncio.run(
        _client(spec["host"], spec["port"], spec["parts"], spec["seconds"], spec["rate"])
    )
    Path(spec["out"]).write_text(json.dumps(result))


# --------------------------------------------------------------------- the driver
def wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the server exited early")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not come up")


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")), "?")
    return f"nproc={os.cpu_count()}, {model}, Python {platform.python_version()}"


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="roiste-bench-"))
    env = {**os.environ, "ROISTE_SALT": SALT, "ROISTE_TOKEN": TOKEN}
    orders = simulate_orders(args.customers, args.seed)
    orders_csv = work / "orders.csv"
    with orders_csv.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(orders[0]))
        w.writeheader()
        w.writerows(orders)
    pg = None
    if args.store == "postgresql":
        from roiste.tracking.testing import TemporaryPostgres

        pg = TemporaryPostgres().start()
        batch_url, serve_url = pg.new_database("batch"), pg.new_database("serve")
    else:
        batch_url, serve_url = f"sqlite:///{work}/batch.db", f"sqlite:///{work}/serve.db"
    server = None
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [*ROISTE, "customers", "tag", str(orders_csv), "--store", batch_url,
             "--out", str(work / "tagged.csv"), "--quiet"],
            env=env, check=True, cwd=ROOT,
        )
        batch_s = time.perf_counter() - t0
        with (work / "tagged.csv").open() as fh:
            batch = {r["order_id"]: r for r in csv.DictReader(fh)}

        port = free_port()
        server = subprocess.Popen(
            [*ROISTE, "serve", "--store", serve_url, "--port", str(port), "--log-level", "warning",
             *(["--durable"] if args.durable else [])],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("wb"),
        )
        wait_health(f"http://127.0.0.1:{port}/health", server)
        # Each customer's orders on one connection, in time order.
        parts: list[list[dict[str, object]]] = [[] for _ in range(args.connections)]
        for o in orders:
            h = int(hashlib.sha256(str(o["email"]).strip().lower().encode()).hexdigest()[:8], 16)
            parts[h % args.connections].append(o)
        spec = {"host": "127.0.0.1", "port": port, "parts": parts, "seconds": args.seconds,
                "rate": args.rate, "out": str(work / "client.json")}
        (work / "spec.json").write_text(json.dumps(spec))
        cpu0 = cpu_seconds(server.pid)
        subprocess.run([sys.executable, __file__, "--client", str(work / "spec.json")], check=True)
        server_cpu = cpu_seconds(server.pid) - cpu0
        result = json.loads((work / "client.json").read_text())
        result["server_cpu_ms_per_request"] = 1000.0 * server_cpu / max(1, int(result["requests"]))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if pg is not None:
            pg.stop()
    answers = result.pop("answers")
    mismatches = sum(
        (a["customer_type"], a["first_purchase_at"])
        != (batch[oid]["customer_type"], batch[oid]["first_purchase_at"])
        for oid, a in answers.items()
    )
    result.update(
        store=args.store + (" durable" if args.durable else ""), connections=args.connections,
        offered_rate=args.rate,
        orders_available=len(orders),
        compared=len(answers), mismatches=mismatches, batch_orders_per_s=len(orders) / batch_s,
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=20.0, help="Load duration (bounded).")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rate", type=float, default=600.0,
                    help="Requests per second offered, paced (0: as fast as answers come back).")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--durable", action="store_true", help="Serve with an fsync per commit (SQLite).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="Append to benchmarks/RESULTS.md.")
    args = ap.parse_args()
    if args.client:
        client_main(args.client)
        return
    load_before = os.getloadavg()[0]
    r = run(args)
    r["load"] = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    ok = r["rps"] >= 500 and r["p99_ms"] < 20 and r["errors"] == 0 and r["mismatches"] == 0
    line = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {r['store']} | {r['connections']} | "
        f"{r['offered_rate'] or 'max'} | {r['requests']} | "
        f"{r['elapsed_s']:.1f} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
        f"{r['max_ms']:.1f} | {r['errors']} | {r['compared']} / {r['mismatches']} | "
        f"{r['batch_orders_per_s']:.0f} | {r['server_cpu_ms_per_request']:.3f} | {r['load']} | "
        f"{'yes' if ok else 'NO'} |"
    )
    print(json.dumps(r, indent=2))
    print(line)
    if args.record:
        record_row(
            "## Tagging endpoint (benchmarks/bench_serve.py)",
            f"Machine: {machine()}.\n\n"
            "| date | store | conn. | offered req/s | requests | s | req/s | p50 ms | p99 ms | "
            "max ms | errors | compared / mismatches | batch orders/s | server CPU ms/req | "
            "load avg | target met |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            line,
        )


def record_row(header: str, intro: str, line: str) -> None:
    """Add ``line`` at the end of the table of the section ``header`` in benchmarks/RESULTS.md
    (the section, with ``intro`` and the table's head, is appended when missing)."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if header not in text:
        text = text.rstrip("\n") + f"\n\n{header}\n\n{intro}"
    lines = text.split("\n")
    at = lines.index(header) + 1
    while at < len(lines) and not lines[at].startswith("|"):
        at += 1
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines.insert(at, line)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
