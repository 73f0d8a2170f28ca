"""Fuzzing the three front doors: the panel reader, the scenario loader, the endpoint's body.

Each property runs 500 generated examples (``FUZZ_EXAMPLES``), each under a time limit
(``deadline``), and accepts exactly two outcomes: a valid result, or the project's one-line
error.  Anything else -- another exception, a message over several lines, a 500, a store that
breaks its own rules -- fails.  The whole file took 31-49 s on the shared 2-core machine
(load average 6-12); the examples are random on each run (no example database).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from roiste.models.errors import PanelError, ScenarioError
from roiste.models.panel import Panel, read_panel
from roiste.optimizer.scenario import Scenario, load_scenario
from roiste.tracking.server import create_app
from roiste.tracking.store import open_store

FUZZ_EXAMPLES = 500
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=timedelta(seconds=5),  # the time limit of one example (generous: a shared machine)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
    database=None,
)
ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "tests" / "fixtures" / "scenarios" / "panel_long.csv"


def _one_line(message: str, prefix: str) -> None:
    assert message.startswith(prefix) and "\n" not in message and "Traceback" not in message, message


# ------------------------------------------------------------------------------ panel reader
COLUMNS = ["date", "channel", "spend", "revenue", "visitors", "orders", "new_customers", "returns",
           "market", "Date", "week", ""]
CELLS = st.one_of(
    st.sampled_from(["", "0", "-1", "1e308", "nan", "inf", "1,5", "1.234,5", "NA", "null", "€12",
                     "2024-01-01", "2024-02-30", "01/02/2024", "2024-W05", "search", "social",
                     '"quoted, cell"', "=1+1", "\x00", "é"]),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates(min_value=datetime(1900, 1, 1).date(), max_value=datetime(2200, 1, 1).date()).map(str),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)


@st.composite
def panel_texts(draw: st.DrawFn) -> bytes:
    """Panel-like CSV: a header of known and odd columns, rows of plausible and hostile cells,
    and sometimes a well-formed weekly panel with a few cells spoilt."""
    if draw(st.booleans()):
        weeks = draw(st.integers(1, 40))
        chans = draw(st.lists(st.sampled_from(["search", "social", "tv", "Search"]), min_size=1,
                              max_size=3))
        start = datetime(2024, 1, 1) + timedelta(days=draw(st.integers(0, 6)))
        rows = [["date", "channel", "spend", "revenue"]]
        for w in range(weeks):
            for c in chans:
                rows.append([(start + timedelta(weeks=w)).date().isoformat(), c,
                             str(draw(st.integers(0, 5000))), str(draw(st.integers(0, 20000)))])
        for _ in range(draw(st.integers(0, 3))):  # spoil a few cells
            r = draw(st.integers(0, len(rows) - 1))
            rows[r][draw(st.integers(0, 3))] = draw(CELLS)
    else:
        header = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=6))
        rows = [header, *draw(st.lists(st.lists(CELLS, min_size=0, max_size=7), max_size=8))]
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    text = "\n".join(sep.join(r) for r in rows) + draw(st.sampled_from(["", "\n", "\r\n"]))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.binary(max_size=64))
    return data


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_panel_reader_gives_a_panel_or_one_line(work: Path) -> None:
    path = work / "panel.csv"
    outcomes = {"panel": 0, "error": 0}

    @FUZZ
    @given(panel_texts(), st.integers(1, 30))
    @example(b"\n0\r,", 1)  # a lone CR ends the header line as pandas reads it
    def check(data: bytes, min_weeks: int) -> None:
        path.write_bytes(data)
        try:
            panel = read_panel(path, min_weeks=min_weeks)
        except PanelError as exc:
            _one_line(str(exc), f"{path}")
            outcomes["error"] += 1
            return
        assert isinstance(panel, Panel) and panel.n_weeks >= min_weeks
        outcomes["panel"] += 1

    check()
    assert outcomes["panel"] > 0 and outcomes["error"] > 0, outcomes


# ------------------------------------------------------------------------------ scenario loader
KEYS = [*sorted(Scenario.model_fields), "budgte", "gross_margin", "min", "max", "locked", "x"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.floats(allow_nan=True),
    st.text(max_size=10), st.sampled_from(["search", "social", "tv", "net_margin", "revenue",
                                           "cvar", "p.csv", str(PANEL), "=HYPERLINK(1)"]),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from([*KEYS, "search", "social", "channels"]), inner, max_size=3),
    max_leaves=10,
)


@st.composite
def scenario_texts(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # any text at all
        return draw(st.text(max_size=200))
    raw: dict[str, Any] = {"name": "fuzz", "data": str(PANEL), "economics": {"gross_margin": 0.4}}
    raw.update(draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5)))
    text = yaml.safe_dump(raw, allow_unicode=True)
    if kind == 1:  # aliases, anchors, tags and keys written twice
        extra = draw(st.sampled_from([
            "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", "x: !!python/object:os.system 1\n",
            "name: twice\n", "c: &c {k: 1}\nd: {<<: *c}\n", "e: &e [*e]\n", "f: *nowhere\n",
            "g: " + "[" * 80 + "]" * 80 + "\n",
        ]))
        text += extra
    if kind == 2:  # cut anywhere
        text = text[: draw(st.integers(0, len(text)))]
    return text


def test_the_scenario_loader_gives_a_scenario_or_one_line(work: Path) -> None:
    path = work / "scenario.yaml"
    outcomes = {"scenario": 0, "error": 0}

    @FUZZ
    @given(scenario_texts())
    def check(text: str) -> None:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            _one_line(str(exc), f"{path}: ")
            outcomes["error"] += 1
            return
        assert isinstance(sc, Scenario) and sc.name and 1 <= sc.steps <= 24
        outcomes["scenario"] += 1

    check()
    assert outcomes["scenario"] > 0 and outcomes["error"] > 0, outcomes


# ------------------------------------------------------------------------------ endpoint body
SALT = b"fuzz-salt-0123456789abcdef"
TOKEN = b"fuzz-token-0123456789abcdef"
EMAILS = ["ann@example.com", " ANN@example.com", "bob@example.org", "cy@shop.example",
          "dee@shop.example", "nul\x00@example.com", "esc\x1b@example.com", "not-an-email", ""]
ORDER_IDS = [f"o{i}" for i in range(30)] + ["", " ", "o\x00", "x" * 201]


GOOD_EMAILS = EMAILS[:5]
HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "order_id": st.one_of(st.sampled_from(ORDER_IDS[30:]), st.text(max_size=12), st.integers()),
    "value": st.sampled_from([-1, float("nan"), float("inf"), "12.5", True, None, 1e308]),
    "timestamp": st.one_of(st.sampled_from(["yesterday", "2024-13-01T00:00:00Z", "", "0"]),
                           st.integers(), st.none(), st.text(max_size=8)),
    "channel": st.one_of(st.sampled_from(["", "a\x07b", " "]), st.text(max_size=8), st.integers()),
    "email": st.one_of(st.sampled_from(EMAILS[5:]), st.emails(), st.text(max_size=10), st.none()),
    "email_sha256": st.one_of(st.text(alphabet="0123456789abcdef", min_size=63, max_size=65),
                              st.text(alphabet="0123456789ABCDEF", min_size=64, max_size=64)),
    "phone": st.just("+353 1 000 0000"),
}


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A plausible purchase (a few buyers, a few order ids, so that replays, conflicts and
    purchases arriving out of time order all happen), then up to two hostile changes."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=80))
    when = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 12, 31)))
    body: dict[str, Any] = {
        "order_id": draw(st.sampled_from(ORDER_IDS[:30])),
        "email": draw(st.sampled_from(GOOD_EMAILS)),
        "value": draw(st.one_of(st.floats(0, 1e6), st.integers(0, 10**6))),
        "timestamp": when.replace(microsecond=0).isoformat() + draw(st.sampled_from(["Z", "", "+02:00"])),
        "channel": draw(st.sampled_from(["search", "social", "=cmd", "tv"])),
    }
    for field in draw(st.lists(st.sampled_from(sorted(HOSTILE)), max_size=2, unique=True)):
        if draw(st.booleans()) and field in body:
            del body[field]
        else:
            body[field] = draw(HOSTILE[field])
    text = json.dumps(body, allow_nan=True)
    if draw(st.integers(0, 19)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode()


class _Endpoint:
    """The real application (Guard + FastAPI + group committer) on a real SQLite store, driven
    over ASGI on one event loop: no network, same code path as uvicorn's."""

    def __init__(self, db: Path) -> None:
        self.url = f"sqlite:///{db}"
        self.app = create_app(open_store(self.url, SALT), TOKEN, SALT)
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.started: list[str] = []
        self.task = self.loop.create_task(self._lifespan())
        while not self.started:
            self.loop.run_until_complete(asyncio.sleep(0.001))
        assert self.started == ["lifespan.startup.complete"], self.started

    async def _lifespan(self) -> None:
        msgs = [{"type": "lifespan.startup"}]

        async def receive() -> dict[str, Any]:
            if msgs:
                return msgs.pop()
            await self.stop.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: dict[str, Any]) -> None:
            self.started.append(message["type"])

        await self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        async def call() -> tuple[int, dict[str, Any]]:
            msgs = [{"type": "http.request", "body": body, "more_body": False}]
            out: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return msgs.pop() if msgs else {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                out.append(message)

            scope = {"type": "http", "method": "POST", "path": "/v1/purchases", "query_string": b"",
                     "headers": [(b"authorization", b"Bearer " + TOKEN),
                                 (b"content-type", b"application/json"),
                                 (b"content-length", str(len(body)).encode())]}
            await self.app(scope, receive, send)
            status = next(m["status"] for m in out if m["type"] == "http.response.start")
            payload = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
            return status, json.loads(payload)

        return self.loop.run_until_complete(asyncio.wait_for(call(), timeout=5))

    def close(self) -> None:
        self.stop.set()
        self.loop.run_until_complete(self.task)
        self.loop.close()


@pytest.fixture(scope="module")
def endpoint(work: Path) -> Iterator[_Endpoint]:
    ep = _Endpoint(work / "store.db")
    yield ep
    ep.close()


def test_the_endpoint_answers_or_refuses_in_one_line(endpoint: _Endpoint) -> None:
    statuses: dict[int, int] = {}

    @FUZZ
    @given(bodies())
    def check(body: bytes) -> None:
        status, payload = endpoint.post(body)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            assert set(payload) <= {"customer_type", "first_purchase_at", "corrects"}
            assert payload["customer_type"] in ("new", "existing")
            assert datetime.fromisoformat(payload["first_purchase_at"]).tzinfo is not None
        else:
            assert status in (400, 409, 413, 422), (status, payload)
            assert set(payload) == {"error"}
            _one_line(payload["error"], "")
            assert "@" not in payload["error"]  # never an address echoed

    check()
    # answers, refusals and conflicts all happened (30 order ids shared by 4 buyers)
    assert all(statuses.get(code, 0) > 0 for code in (200, 400, 409, 422)), statuses


def test_after_the_fuzzing_the_store_keeps_its_rules(endpoint: _Endpoint) -> None:
    # Whatever arrived, in whatever order: one first purchase per customer, the earliest (equal
    # times: the smaller order id), every order of the customer dated from it.
    with open_store(endpoint.url, SALT) as s:
        snap = s.snapshot()
    orders = snap["roiste_orders"]
    assert orders, "the fuzzing recorded no order"
    by_key: dict[str, list[tuple[Any, ...]]] = {}
    for row in orders:
        by_key.setdefault(row[1], []).append(row)
    customers = {row[0]: row for row in snap["roiste_customers"]}
    assert set(customers) == set(by_key)
    for key, rows in by_key.items():
        first = min(rows, key=lambda r: (r[2], r[0]))
        assert [r[0] for r in rows if r[5] == "new"] == [first[0]]
        assert customers[key][1:3] == (first[2], first[0])
        assert {r[6] for r in rows} == {first[2]}
    corrected = {r[0] for r in snap["roiste_corrections"]}
    assert corrected, "no purchase arrived before an earlier one: the fuzzing missed the case"
    assert not corrected & {customers[k][2] for k in customers}
