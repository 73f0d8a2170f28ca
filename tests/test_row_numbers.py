"""One rule for row numbers: ``customers tag``, the tagged-orders reader and the panel reader.

The header is row 1, so row ``n`` of a CSV file is its line ``n``; a blank line (or one whose
cells are all empty) keeps its number but holds no row and is not counted.  The oracle is the
line number of the bad line in the file as written here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from roiste.models.errors import PanelError
from roiste.models.panel import read_panel
from roiste.optimizer.cli import main

HERE = Path(__file__).resolve().parent / "fixtures" / "customer_planning"
ENV = {"ROISTE_SALT": "rows-salt-0123456789abcdef"}
HEADER = "order_id,timestamp,value,channel,email"


def _line_of(text: str, marker: str) -> int:
    """1-based line number of the only line holding ``marker``."""
    hits = [i + 1 for i, line in enumerate(text.split("\n")) if marker in line]
    assert len(hits) == 1
    return hits[0]


def _tag(src: Path, tmp_path: Path):
    return CliRunner().invoke(
        main,
        ["customers", "tag", str(src), "--store", f"sqlite:///{tmp_path}/store.db",
         "--out", str(tmp_path / "tagged.csv"), "--quiet"],
        env=ENV,
    )


def _orders(blank: str) -> str:
    return "\n".join([
        HEADER,
        "1,2024-01-01T10:00:00Z,10,search,ann@example.com",
        blank,
        "2,2024-01-02T10:00:00Z,12,social,bob@example.com",
        blank,
        "3,2024-01-03T10:00:00Z,BAD,search,cat@example.com",
        "",
    ])


@pytest.mark.parametrize("blank", ["", ",,,,"], ids=["empty line", "empty cells"])
def test_tag_names_the_line_of_the_bad_row_across_blank_lines(tmp_path: Path, blank: str) -> None:
    text = _orders(blank)
    src = tmp_path / "orders.csv"
    src.write_text(text)
    r = _tag(src, tmp_path)
    assert r.exit_code == 2, r.output
    line = _line_of(text, "BAD")  # 6
    assert re.fullmatch(rf"error: {re.escape(str(src))}: row {line}, column 'value': [^\n]+",
                        r.stderr.strip()), r.stderr


@pytest.mark.parametrize("blank", ["", ",,,,"], ids=["empty line", "empty cells"])
def test_tag_counts_orders_not_blank_lines(tmp_path: Path, blank: str) -> None:
    text = _orders(blank).replace("BAD", "7")
    src = tmp_path / "orders.csv"
    src.write_text(text)
    r = _tag(src, tmp_path)
    assert r.exit_code == 0, r.output
    assert ": 3 orders, 3 from new customers, 0 from existing ones" in r.stdout
    tagged = (tmp_path / "tagged.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in tagged[1:]] == ["1", "2", "3"]


def test_tag_and_panel_reader_name_the_same_row(tmp_path: Path) -> None:
    """The same layout (a blank line, then a bad number) gets the same row from both readers."""
    weeks = [f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}" for i in range(30)]
    body = [f"{d},search,{100 + i},{300 + i}" for i, d in enumerate(weeks)]
    body[3] = body[3].replace(f",{303}", ",BAD")
    panel_text = "\n".join(["date,channel,spend,revenue", body[0], "", *body[1:], ""])
    panel = tmp_path / "panel.csv"
    panel.write_text(panel_text)
    with pytest.raises(PanelError) as exc:
        read_panel(panel, min_weeks=1)
    panel_row = _line_of(panel_text, "BAD")

    orders_text = "\n".join([HEADER, "1,2024-01-01T10:00:00Z,10,search,ann@example.com", "",
                             "2,2024-01-02T10:00:00Z,10,search,bob@example.com",
                             "3,2024-01-03T10:00:00Z,10,search,cat@example.com",
                             "4,2024-01-04T10:00:00Z,BAD,search,dan@example.com", ""])
    src = tmp_path / "orders.csv"
    src.write_text(orders_text)
    r = _tag(src, tmp_path)
    assert _line_of(orders_text, "BAD") == panel_row == 6
    assert f"row {panel_row}, column 'revenue'" in str(exc.value)
    assert f"row {panel_row}, column 'value'" in r.stderr


def test_tagged_orders_in_a_plan_name_the_line(tmp_path: Path) -> None:
    """The reader of tagged orders (``new_customer_value: from_cohorts``) counts the same way."""
    lines = (HERE / "tagged_orders.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(3, "")  # a blank line between orders
    bad_at = 6  # the line, 1-based, whose customer type is broken (after the blank one)
    assert ",new," in lines[bad_at - 1]
    lines[bad_at - 1] = lines[bad_at - 1].replace(",new,", ",returning,")
    orders = tmp_path / "orders.csv"
    orders.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = (HERE / "good_cohorts.yaml").read_text(encoding="utf-8")
    text = text.replace("../scenarios/panel_long.csv", str(HERE.parent / "scenarios" / "panel_long.csv"))
    text = text.replace("orders: tagged_orders.csv", f"orders: {orders}")
    sc = tmp_path / "sc.yaml"
    sc.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(main, ["plan", str(sc), "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        f"error: {orders}: row {bad_at}, column 'customer_type': not new or existing"]
