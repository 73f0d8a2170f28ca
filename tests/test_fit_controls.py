"""Known events (promotions, holidays) as controls of the per-channel fit of the long panel.

Simulated ``rough_baseline`` worlds (:func:`roiste.models.worlds.draw_world`) lift their
baseline in promotion weeks and write the promotion calendar as a text column ``promotion``;
read as a control, each promotion becomes a column of every channel's baseline.  The worlds'
truths (the true curves, the true baseline and each promotion's lift) are the oracle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.curves import ResponseCurve
from roiste.models.errors import CurveError, PanelError
from roiste.models.fit.channel import ChannelResponseRegressor, fit_channel, fit_long, week_index
from roiste.models.panel import panel_from_frame, read_panel
from roiste.models.worlds import ProcessWorld, draw_world
from roiste.optimizer.backtest.forecast import forecast_channel
from roiste.optimizer.cli import main

SEEDS = (7900, 7901, 7902)
CHANNELS = 3
GRID = np.linspace(0.5, 1.5, 11)


def _worst_error(curve: ResponseCurve, truth: ResponseCurve) -> float:
    w = truth.recent_spend * GRID
    return float(np.max(np.abs(curve.response(w) / truth.response(w) - 1.0)))


def _true_effects(world: ProcessWorld, channel: str) -> dict[str, float]:
    """Each promotion level's true additive effect: the baseline's lift, averaged over its weeks."""
    t = np.arange(len(world.weeks), dtype=float)
    base = world.baseline[channel].to_numpy()
    lift = base - base / (1.0 + world.promo_lift(t))
    labels = np.array(world.promotion_labels(t))
    return {f"promotion={lv}": float(lift[labels == lv].mean()) for lv in set(labels) - {""}}


@pytest.fixture(scope="module")
def fitted() -> list[dict[str, object]]:
    """Every channel of three worlds fitted with and without the promotion calendar."""
    out = []
    for seed in SEEDS:
        world = draw_world(seed, "rough_baseline", n_channels=CHANNELS)
        panel = panel_from_frame(world.panel, controls=["promotion"])
        for c in world.channels:
            x, y = panel.spend[c].to_numpy(), panel.revenue[c].to_numpy()
            with_ = fit_channel(x, y, panel.weeks, channel=c, controls=panel.channel_controls(c))
            without = fit_channel(x, y, panel.weeks, channel=c)
            out.append({"world": world, "channel": c, "with": with_, "without": without})
    return out


def test_worlds_with_promotions_write_their_calendar_and_others_do_not() -> None:
    world = draw_world(SEEDS[0], "rough_baseline", n_channels=2)
    t = np.arange(len(world.weeks), dtype=float)
    running = world.promo_lift(t) > 0
    per_week = world.panel.drop_duplicates("date").set_index("date")["promotion"]
    assert ((per_week != "").to_numpy() == running).all()
    names = {f"promo_{j + 1}" for j in range(len(world.promotions))}
    assert all(set(lv.split("+")) <= names for lv in set(per_week) - {""})
    # the same value for every channel of a date
    assert (world.panel.groupby("date")["promotion"].nunique() == 1).all()
    assert "promotion" not in draw_world(SEEDS[0], "plain", n_channels=2).panel.columns


def test_the_promotion_control_brings_the_fit_closer_to_the_truth(fitted) -> None:
    err_with = [_worst_error(f["with"], f["world"].truth[f["channel"]]) for f in fitted]
    err_without = [_worst_error(f["without"], f["world"].truth[f["channel"]]) for f in fitted]
    assert np.median(err_with) < np.median(err_without)
    assert np.mean(err_with) < np.mean(err_without)


def test_the_promotion_coefficients_match_the_true_lifts(fitted) -> None:
    ratios = []
    for f in fitted:
        coef = f["with"].diagnostics["controls"]
        true = _true_effects(f["world"], f["channel"])
        assert set(coef) == set(true)
        for name, value in coef.items():
            assert true[name] > 0
            assert value > 0, (f["channel"], name, value, true[name])
            ratios.append(value / true[name])
    assert 0.8 < float(np.median(ratios)) < 1.25
    assert np.mean(np.abs(np.log(ratios)) < np.log(2.0)) > 0.8


def _expected_revenue(world: ProcessWorld, channel: str) -> np.ndarray:
    """The world's true expected revenue of a channel: baseline plus media, before noise."""
    j = world.channels.index(channel)
    ch = world.channel_truth[channel]
    x = world.spend[channel].to_numpy()
    media = ch.revenue.beta * ch.revenue.saturation.value(ch.revenue.adstock.apply(x))
    scale = world.media_scale(np.arange(len(x), dtype=float))
    if scale is not None:
        media = media * scale[:, j]
    return np.asarray(world.baseline[channel].to_numpy() + media)


def test_the_forecast_knows_the_promotions_of_the_weeks_it_forecasts(fitted) -> None:
    """A year held out: the forecast of its promotion weeks at the actual spend, with the
    promotion calendar of those weeks, is nearer the true expected revenue than without."""
    errors: dict[str, list[float]] = {"with": [], "without": []}
    for f in fitted:
        world, c = f["world"], f["channel"]
        panel = panel_from_frame(world.panel, controls=["promotion"])
        x, y = panel.spend[c].to_numpy(), panel.revenue[c].to_numpy()
        ctrl = panel.channel_controls(c).to_numpy()
        t = week_index(panel.weeks)
        n = len(y) - 52
        promo = ctrl[n:].any(axis=1)
        assert promo.sum() >= 3
        truth = _expected_revenue(world, c)[n:][promo]
        names = tuple(panel.channel_controls(c).columns)
        for label, cols, named in (("with", [x, t, *ctrl.T], names), ("without", [x, t], ())):
            X = np.column_stack(cols)
            est = ChannelResponseRegressor(media_form="additive", controls=named).fit(X[:n], y[:n])
            pred = est.predict(X[n:])
            baseline = est.baseline_matrix(X[n:]) @ est.baseline_coef_
            assert (pred - baseline >= -1e-6 * np.abs(pred)).all()  # the media term is >= 0
            errors[label].append(float(np.mean(np.abs(pred[promo] / truth - 1.0))))
    assert np.median(errors["with"]) < 0.8 * np.median(errors["without"])
    assert np.mean(errors["with"]) < np.mean(errors["without"])


def _panel_rows(n: int = 30) -> pd.DataFrame:
    weeks = pd.date_range("2024-01-01", periods=n, freq="7D").strftime("%Y-%m-%d")
    rows = [{"date": d, "channel": ch, "spend": 100.0 + 10 * (i % 5) + j, "revenue": 500.0 + i,
             "price": 9.5 + 0.1 * (i % 3), "event": "sale" if i % 7 == 0 else ""}
            for i, d in enumerate(weeks) for j, ch in enumerate(("a", "b"))]
    return pd.DataFrame(rows)


def test_long_controls_read_per_row_numbers_and_indicators(tmp_path: Path) -> None:
    frame = _panel_rows()
    frame.loc[frame["channel"] == "b", "price"] += 1.0
    p = tmp_path / "p.csv"
    frame.to_csv(p, index=False)
    panel = read_panel(p, controls=["price", "event"])
    assert panel.channels == ["a", "b"]  # the text control is not part of the channel key
    a, b = panel.channel_controls("a"), panel.channel_controls("b")
    assert list(a.columns) == ["price", "event=sale"]
    assert np.allclose(a["price"].to_numpy(), 9.5 + 0.1 * (np.arange(30) % 3))
    assert np.allclose(b["price"].to_numpy(), a["price"].to_numpy() + 1.0)
    assert a["event=sale"].tolist() == [1.0 if i % 7 == 0 else 0.0 for i in range(30)]
    assert panel.tail(4).channel_controls("a").shape == (4, 2)


@pytest.mark.parametrize(("change", "controls", "message"), [
    (lambda f: f.assign(price=f["price"].astype(object).where(f.index != 7, "ten")),
     ["price", "event"],
     "{p}: row 9, column 'price': 'ten' is not a number"),
    (lambda f: f, ["promo"], "{p}: control column 'promo' is not in the file; the columns are: "
                             "date, channel, spend, revenue, price, event"),
    (lambda f: f, ["evnt"], "{p}: control column 'evnt' is not in the file; did you mean 'event'?"),
    (lambda f: f, ["spend"], "{p}: column 'spend' is part of the panel contract (date, channel, "
                             "spend, revenue and the outcome columns); it cannot be a control"),
])
def test_bad_long_controls_stop_with_one_line(tmp_path: Path, change, controls, message) -> None:
    p = tmp_path / "p.csv"
    change(_panel_rows()).to_csv(p, index=False)
    with pytest.raises(PanelError) as exc:
        read_panel(p, controls=controls)
    assert str(exc.value) == message.format(p=p)
    res = CliRunner().invoke(main, ["fit", str(p), "--out", str(tmp_path / "c.json"),
                                    "--controls", ",".join(controls), "--quiet"])
    assert res.exit_code == 2
    assert message.format(p=p) in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


def test_a_control_of_the_wrong_length_is_refused() -> None:
    weeks = pd.date_range("2024-01-01", periods=20, freq="7D")
    with pytest.raises(CurveError, match="control 'x' has 3 values for 20 weeks"):
        fit_channel(np.ones(20), np.ones(20), weeks, controls={"x": [1.0, 0.0, 1.0]})


def test_controls_change_nothing_when_absent_or_empty(tmp_path: Path) -> None:
    world = draw_world(SEEDS[0], "rough_baseline", n_channels=2)
    plain = world.panel.drop(columns="promotion")
    c = world.channels[0]
    sub = plain[plain["channel"] == c]
    x, y = sub["spend"].to_numpy(), sub["revenue"].to_numpy()
    base = fit_channel(x, y, world.weeks, channel=c, seed=3).to_dict()
    assert fit_channel(x, y, world.weeks, channel=c, seed=3, controls=None).to_dict() == base
    zero = {"quiet_week": np.zeros(len(y))}  # never an event: no column of the baseline
    assert fit_channel(x, y, world.weeks, channel=c, seed=3, controls=zero).to_dict() == base
    p = tmp_path / "p.csv"
    plain.to_csv(p, index=False)
    one = fit_long(read_panel(p), progress=False, n_jobs=1, holdout_weeks=13)
    two = fit_long(read_panel(p, controls=[]), progress=False, n_jobs=1, holdout_weeks=13)
    assert one.to_json() == two.to_json()
    assert "controls" not in json.loads(one.to_json())["meta"]["fit"]


def test_fit_long_names_the_controls_and_forecasts_the_holdout_with_them() -> None:
    world = draw_world(SEEDS[1], "rough_baseline", n_channels=2)
    with_ = fit_long(panel_from_frame(world.panel, controls=["promotion"]), holdout_weeks=26,
                     progress=False, n_jobs=1)
    without = fit_long(panel_from_frame(world.panel.drop(columns="promotion")), holdout_weeks=26,
                       progress=False, n_jobs=1)
    levels = sorted({f"promotion={v}" for v in world.panel["promotion"] if v})
    assert with_.meta["fit"]["controls"] == levels
    for c in world.channels:
        assert sorted(with_[c].diagnostics["controls"]) == levels
        assert "controls" not in without[c].diagnostics
    assert with_.diagnostics["wape_holdout"] < without.diagnostics["wape_holdout"]


def test_the_backtest_forecast_of_a_fold_reads_the_fold_weeks_controls(fitted) -> None:
    """A fold of a year (``forecast_channel``, as the backtest's walk calls it): with the
    controls of its weeks, its promotion weeks are forecast nearer the true expected revenue."""
    errors: dict[str, list[float]] = {"with": [], "without": []}
    for f in fitted:
        world, c = f["world"], f["channel"]
        panel = panel_from_frame(world.panel, controls=["promotion"])
        s = panel.n_weeks - 52
        train, test = panel.slice(0, s), panel.slice(s, None)
        promo = test.channel_controls(c).to_numpy().any(axis=1)
        truth = _expected_revenue(world, c)[s:][promo]
        for label, kw in (("with", {"controls": train.channel_controls(c),
                                    "future_controls": test.channel_controls(c)}), ("without", {})):
            fc = forecast_channel(train.spend[c].to_numpy(), train.revenue[c].to_numpy(),
                                  train.weeks, test.spend[c].to_numpy(), test.weeks, channel=c,
                                  bootstrap=0, **kw)
            assert (fc.lower <= fc.upper).all()
            errors[label].append(float(np.mean(np.abs(fc.mean[promo] / truth - 1.0))))
    assert np.median(errors["with"]) < np.median(errors["without"])
    assert np.mean(errors["with"]) < np.mean(errors["without"])
