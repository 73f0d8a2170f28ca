"""``roiste recovery plan``: the LP against brute force and an independent LP solver, its
certificate, a simulated shop whose truth is known, validation, and the outputs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import yaml
from click.testing import CliRunner
from scipy.optimize import linprog

from roiste.optimizer.cli import main
from roiste.optimizer.recovery import (
    NONE,
    Rates,
    Recovery,
    RecoveryFile,
    build_problem,
    incentive_segments,
    load_recovery,
    plan_recovery,
    solve_recovery,
    weak_dual_bound,
)

# ----------------------------------------------------------------------- small random cases


def _case(seed: int, whole: bool = True) -> tuple[Recovery, dict]:
    """A random recovery problem and its raw numbers (for the oracle)."""
    rng = np.random.default_rng(seed)
    n_seg = int(rng.integers(2, 5))
    reminders = [
        {"name": "reminder", "messages": 1, "cost_per_message": float(rng.uniform(0, 0.2))},
        {"name": "incentive_10", "messages": 2, "incentive": 0.10},
        {"name": "incentive_20", "messages": 2, "incentive": 0.20},
    ]
    segments, rates = [], {}
    for s in range(n_seg):
        r0 = float(rng.uniform(0.02, 0.10))
        rr = {"reminder": r0 + float(rng.uniform(0, 0.05)),
              "incentive_10": r0 + float(rng.uniform(0.01, 0.10)),
              "incentive_20": r0 + float(rng.uniform(0.02, 0.15))}
        if rng.random() < 0.3:  # not every reminder was measured in every segment
            rr.pop("incentive_20")
        segments.append({
            "name": f"s{s}", "customer": "new" if rng.random() < 0.5 else "existing",
            "basket_value": float(rng.uniform(20, 200)), "margin": float(rng.uniform(0.1, 0.7)),
            "hours": float(rng.choice([1, 6, 24])), "carts": float(rng.integers(50, 1000)),
            "carts_per_customer": float(rng.choice([1.0, 1.0, 1.5])),
            "recovery": {NONE: r0, **rr},
        })
        rates[f"s{s}"] = Rates(r0, rr, "file")
    raw = {"name": f"case {seed}", "budget": float(rng.uniform(0, 800)),
           "max_messages_per_customer": float(rng.choice([1.0, 2.0, 3.0])),
           "new_customer_value": float(rng.uniform(0, 30)), "whole_segments": whole,
           "reminders": reminders, "segments": segments}
    spec = RecoveryFile.model_validate(raw)
    return Recovery(spec, rates, Path("case.yaml"), None), raw


def _by_hand(raw: dict, seg: dict, name: str) -> tuple[float, float, float]:
    """(net margin caused, incentive spent, messages per customer) of giving the whole segment
    ``name``, written out from the definitions."""
    if name == NONE:
        return 0.0, 0.0, 0.0
    rem = next(r for r in raw["reminders"] if r["name"] == name)
    rate, ctrl = seg["recovery"][name], seg["recovery"][NONE]
    worth = seg["basket_value"] * seg["margin"] + (
        raw["new_customer_value"] if seg["customer"] == "new" else 0.0)
    inc = rem.get("incentive", 0.0)
    per_cart = ((rate - ctrl) * worth - rate * inc * seg["basket_value"]
                - rem["messages"] * rem.get("cost_per_message", 0.0))
    return (seg["carts"] * per_cart, seg["carts"] * rate * inc * seg["basket_value"],
            rem["messages"] * seg.get("carts_per_customer", 1.0))


def _brute_force(raw: dict) -> float:
    """The best whole-segment assignment by enumeration of every one."""
    options = [[NONE, *[k for k in s["recovery"] if k != NONE]] for s in raw["segments"]]
    best = -np.inf
    for combo in itertools.product(*options):
        vals = [_by_hand(raw, s, k) for s, k in zip(raw["segments"], combo, strict=True)]
        if sum(v[1] for v in vals) > raw["budget"] + 1e-9:
            continue
        if any(v[2] > raw["max_messages_per_customer"] + 1e-12 for v in vals):
            continue
        best = max(best, sum(v[0] for v in vals))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_whole_segments_match_brute_force(seed: int) -> None:
    rec, raw = _case(seed)
    p = build_problem(rec)
    sol = solve_recovery(p)
    best = _brute_force(raw)
    scale = max(abs(best), 1.0)
    assert sol.net_margin == pytest.approx(best, abs=1e-6 * scale)
    # the certificate holds against the truth, and is tight
    assert sol.dual_bound >= best - 1e-9 * scale
    assert sol.gap <= 1e-6
    # the plan itself is what the hand formulas say it is
    x = sol.shares
    assert set(np.unique(x)) <= {0.0, 1.0}
    chosen = [p.column_reminder[j] for j in np.flatnonzero(x)]
    by_hand = sum(_by_hand(raw, s, k)[0] for s, k in zip(raw["segments"], chosen, strict=True))
    assert by_hand == pytest.approx(sol.net_margin, abs=1e-9 * scale)


@pytest.mark.parametrize("seed", range(8))
def test_shares_of_segments_match_an_independent_lp_solver(seed: int) -> None:
    rec, raw = _case(seed, whole=False)
    p = build_problem(rec)
    sol = solve_recovery(p)
    n = len(p.column_reminder)
    a_eq = np.zeros((len(p.segments), n))
    a_eq[p.column_segment, np.arange(n)] = 1.0
    rows = [p.budget_row]
    rhs = [p.budget]
    for s in range(len(p.segments)):
        rows.append(np.where(p.column_segment == s, p.messages, 0.0))
        rhs.append(p.cap)
    ref = linprog(-p.objective, A_ub=np.array(rows), b_ub=np.array(rhs), A_eq=a_eq,
                  b_eq=np.ones(len(p.segments)), bounds=(0, 1), method="highs")
    assert ref.status == 0
    scale = max(abs(ref.fun), 1.0)
    assert sol.net_margin == pytest.approx(-ref.fun, abs=1e-6 * scale)
    assert sol.gap <= 1e-6
    # shares can only do better than whole segments
    assert sol.net_margin >= _brute_force(raw) - 1e-6 * scale


def test_any_multipliers_give_a_bound_no_plan_beats() -> None:
    rng = np.random.default_rng(3)
    for seed in range(6):
        rec, raw = _case(seed)
        p = build_problem(rec)
        best = _brute_force(raw)
        for _ in range(20):
            y = rng.normal(0, 500, len(p.segments))
            bound = weak_dual_bound(p, y, float(rng.uniform(-1, 3)),
                                    rng.normal(0, 50, len(p.segments)))
            assert bound >= best - 1e-9 * max(abs(best), 1.0)


def test_the_cap_on_messages_rules_out_two_message_reminders() -> None:
    rec, raw = _case(5)
    raw = {**raw, "max_messages_per_customer": 1.0, "budget": 1e9}
    for s in raw["segments"]:
        s["carts_per_customer"] = 1.0
    spec = RecoveryFile.model_validate(raw)
    plan = plan_recovery(Recovery(spec, rec.rates, rec.source, None))
    assert set(plan.plan["reminder"]) <= {NONE, "reminder"}
    assert plan.plan["messages_per_customer"].max() <= 1.0


# ----------------------------------------------------------------------- a simulated shop

TRUE_RATES = {NONE: 0.06, "reminder": 0.09, "incentive_10": 0.13}
SHOP = [  # name, customer, margin, hours
    ("high-new-1h", "new", 0.55, 1),
    ("high-existing-12h", "existing", 0.55, 12),
    ("low-new-1h", "new", 0.15, 1),
    ("low-existing-12h", "existing", 0.15, 12),
]
BASKET = 120.0
ARM = 50_000  # carts per arm of the A/B test


def _truth_pays(margin: float) -> str:
    """The best reminder under the true rates, from the definitions."""
    values = {k: (r - TRUE_RATES[NONE]) * BASKET * margin
              - r * (0.10 if k == "incentive_10" else 0.0) * BASKET
              for k, r in TRUE_RATES.items()}
    return max(values, key=lambda k: values[k])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's A/B test counts (experiment readout format) and its recovery file."""
    d = tmp_path_factory.mktemp("shop")
    rng = np.random.default_rng(2026)
    lines = ["test,channel,arm,customer_type,visitors,orders,revenue,weeks,spend,order_value_sd"]
    for name, customer, _, _ in SHOP:
        for reminder in ("reminder", "incentive_10"):
            for arm, rate in (("exposed", TRUE_RATES[reminder]), ("control", TRUE_RATES[NONE])):
                orders = int(rng.binomial(ARM, rate))
                lines.append(f"{name},{reminder},{arm},{customer},{ARM},{orders},"
                             f"{orders * BASKET:.2f},4,0,0")
    (d / "ab.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {
        "name": "Simulated shop",
        "budget": 1_000_000,
        "max_messages_per_customer": 2,
        "readout": "ab.csv",
        "reminders": [{"name": "reminder", "messages": 1},
                      {"name": "incentive_10", "messages": 2, "incentive": 0.10}],
        "segments": [{"name": n, "customer": c, "basket_value": BASKET, "margin": m,
                      "hours": h, "carts": 2000} for n, c, m, h in SHOP],
    }
    (d / "recovery.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return d


def test_the_incentive_goes_only_to_high_margin_baskets(shop: Path) -> None:
    # the truth: the incentive pays for the high-margin baskets only
    assert _truth_pays(0.55) == "incentive_10" and _truth_pays(0.15) == "reminder"
    plan = plan_recovery(load_recovery(shop / "recovery.yaml"))
    assert incentive_segments(plan) == sorted(n for n, _, m, _ in SHOP if m > 0.5)
    got = dict(zip(plan.plan["segment"], plan.plan["reminder"], strict=True))
    assert got == {n: _truth_pays(m) for n, _, m, _ in SHOP}
    # the rates were read from the readout: pooled controls near the true control rate
    opts = plan.options
    assert np.allclose(opts["control_rate"], TRUE_RATES[NONE], atol=0.004)
    # margin counts only what the reminders cause: near the truth's expectation
    true_value = sum(
        2000 * ((TRUE_RATES[k] - TRUE_RATES[NONE]) * BASKET * m
                - TRUE_RATES[k] * (0.10 if k == "incentive_10" else 0.0) * BASKET)
        for _, _, m, _ in SHOP for k in [_truth_pays(m)])
    assert plan.summary["net_margin"] == pytest.approx(true_value, rel=0.15)


def test_the_readout_file_is_the_experiment_readout_format(shop: Path) -> None:
    res = CliRunner().invoke(main, ["experiment", "readout", str(shop / "ab.csv")])
    assert res.exit_code == 0, res.output


def test_the_command_writes_identical_files_and_refuses_an_existing_dir(shop: Path,
                                                                        tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        out = tmp_path / f"plan{i}"
        res = CliRunner().invoke(main, ["recovery", "plan", str(shop / "recovery.yaml"),
                                        "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "certified gap" in res.output
        outs.append(out)
    for name in ("recovery.csv", "options.csv", "summary.json", "report.html", "recovery.xlsx"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    summary = json.loads((outs[0] / "summary.json").read_text())
    assert summary["optimality_gap"] <= 1e-6 and summary["rates_from"] == ["readout"]
    html = (outs[0] / "report.html").read_text()
    assert "high-new-1h" in html and "<script" not in html
    wb = openpyxl.load_workbook(outs[0] / "recovery.xlsx")
    ws = wb["Plan"]
    assert str(ws.cell(row=2, column=9).value).startswith("=")  # carts as a formula
    res = CliRunner().invoke(main, ["recovery", "plan", str(shop / "recovery.yaml"),
                                    "--out", str(outs[0])])
    assert res.exit_code == 2 and "exists" in res.output


# ----------------------------------------------------------------------- bad input

BASE = {
    "name": "x", "budget": 10, "max_messages_per_customer": 2,
    "reminders": [{"name": "reminder"}],
    "segments": [{"name": "a", "customer": "new", "basket_value": 50, "margin": 0.4,
                  "hours": 2, "carts": 100, "recovery": {"none": 0.05, "reminder": 0.08}}],
}


def _with(change: dict) -> dict:
    spec = json.loads(json.dumps(BASE))
    for path, value in change.items():
        node = spec
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1]] = value
    return spec


@pytest.mark.parametrize(("change", "expected"), [
    ({"segments.0.margin": 1.5}, "(at segments -> 0 -> margin)"),
    ({"segments.0.recovery": {"none": 0.05, "remindr": 0.08}}, "'remindr' is not a reminder"),
    ({"segments.0.recovery": {"reminder": 0.08}}, "the control's rate 'none' is missing"),
    ({"segments.0.recovery": {"none": 0.05, "reminder": 1.2}}, "(at segments -> 0 -> recovery -> reminder)"),
    ({"budgte": 5}, "Unknown key 'budgte'"),
    ({"reminders": [{"name": "none"}]}, "'none' is the control"),
    ({"segments.0.recovery": None}, "segment 'a' has no recovery rates"),
    ({"readout": "missing.csv"}, "readout missing.csv: file not found"),
])
def test_bad_files_are_one_line_naming_the_key(tmp_path: Path, change: dict, expected: str) -> None:
    src = tmp_path / "recovery.yaml"
    src.write_text(yaml.safe_dump(_with(change)), encoding="utf-8")
    res = CliRunner().invoke(main, ["recovery", "plan", str(src), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "\n" not in line and expected in line and "recovery.yaml" in line, line
    assert not (tmp_path / "o").exists()


def test_a_readout_naming_an_unknown_segment_is_refused(shop: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load((shop / "recovery.yaml").read_text())
    spec["segments"] = spec["segments"][:2]
    spec["readout"] = str(shop / "ab.csv")
    src = tmp_path / "r.yaml"
    src.write_text(yaml.safe_dump(spec), encoding="utf-8")
    res = CliRunner().invoke(main, ["recovery", "plan", str(src), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "test 'low-new-1h': no segment of that name" in res.output


def test_the_example_file_plans_from_the_file_and_the_readout() -> None:
    example = Path(__file__).resolve().parents[1] / "scenarios" / "recovery" / "recovery.yaml"
    plan = plan_recovery(load_recovery(example))
    s = plan.summary
    assert s["rates_from"] == ["file", "readout"] and s["optimality_gap"] <= 1e-6
    assert s["incentive_spend"] <= s["budget"] + 1e-6
    assert len(plan.plan) == s["segments"]  # one reminder per segment
