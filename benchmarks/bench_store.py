"""Throughput of the customer store's ``tag_many`` on a throwaway PostgreSQL server.

Run by hand (it is not part of the test suite)::

    .venv/bin/python benchmarks/bench_store.py [--orders 6000] [--customers 2000] [--chunk 50]

One process tags the orders (each customer buying again every ``customers`` orders, in time
order, so no purchase arrives before an earlier one) in transactions of ``--chunk`` orders,
twice on fresh schemas, and prints orders per second.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from roiste.tracking.orders import make_order
from roiste.tracking.store import open_store
from roiste.tracking.testing import TemporaryPostgres

SALT = b"bench-salt-0123456789abc"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=6000)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=50)
    args = ap.parse_args()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    orders = [
        make_order(order_id=f"o{i}", email=f"u{i % args.customers}@x.example", value=1.0,
                   timestamp=(t0 + timedelta(seconds=i)).isoformat(), channel="s", salt=SALT)
        for i in range(args.orders)
    ]
    with TemporaryPostgres() as pg:
        for run in range(2):
            with open_store(pg.new_schema(f"b{run}"), SALT) as store:
                start = time.perf_counter()
                for i in range(0, len(orders), args.chunk):
                    store.tag_many(orders[i : i + args.chunk])
                seconds = time.perf_counter() - start
            print(f"run {run + 1}: {len(orders) / seconds:.0f} orders/s")


if __name__ == "__main__":
    main()
