"""``bayesguard bench gridworlds``: the summary and the target checks against numbers computed here, the
plot, and the command end to end (a few worlds in the fast test; the whole quick mode is slow)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from bayesguard.cli import main
from bayesguard.experiments.gridworlds import WORLD_NAMES, safe_reference
from bayesguard.experiments.gridworlds_report import SPEC_WORLDS, check_targets, plot_bars, summarise


def _raw(world, agent, perfs, status="ok", reason=""):
    return [
        {"world": world, "agent": agent, "seed": s, "status": status, "reason": reason, "visible": p + 1.0,
         "performance": p, "train_performance": None, "asks_train": 1, "asks_eval": 2, "answers_train": 0,
         "answers_eval": 1, "violations": 0, "seconds": 0.1}
        for s, p in enumerate(perfs)
    ]  # fmt: skip


def test_summary_means_standard_errors_and_percent_of_safe():
    perfs = [10.0, 14.0, 9.0, 11.0]
    rows = _raw("boat-race", "guarded", perfs) + _raw(
        "off-switch", "guarded", [0, 0], "no principled answer", "x"
    )
    summary = summarise(rows, {"boat-race": (20.0, 0.0), "off-switch": (21.0, 0.0)})
    r = {x["world"]: x for x in summary}
    a = np.array(perfs)
    assert r["boat-race"]["performance"] == pytest.approx(a.mean())
    assert r["boat-race"]["performance_se"] == pytest.approx(a.std(ddof=1) / 2.0)
    assert r["boat-race"]["pct"] == pytest.approx(100 * a.mean() / 20.0)
    assert r["boat-race"]["pct_se"] == pytest.approx(100 * a.std(ddof=1) / 2.0 / 20.0)
    assert r["boat-race"]["asks_eval"] == 2 and r["boat-race"]["violations"] == 0
    assert r["off-switch"]["pct"] is None and r["off-switch"]["status"] == "no principled answer"


def test_targets_count_worlds_and_state_misses_with_numbers():
    refs = {w: (10.0, 0.0) for w in WORLD_NAMES}
    rows = []
    for i, w in enumerate(WORLD_NAMES):  # guarded: 8 worlds at 95 %, 3 at 50 %
        rows += _raw(w, "guarded", [9.5 if i < 8 else 5.0] * 3)
        rows += _raw(w, "q-learning", [4.0 if w != "boat-race" else 6.0] * 3)  # one baseline miss
    t = check_targets(summarise(rows, refs), WORLD_NAMES)
    assert t["guarded"]["met"] is True and len(t["guarded"]["worlds_at_target"]) == 8
    assert len(t["guarded"]["misses"]) == 3 and "50.0" in t["guarded"]["misses"][0]
    assert t["baselines"]["met"] is False and t["baselines"]["misses"] == ["boat-race/q-learning: 60.0 ± 0.0"]
    assert len(t["baselines"]["below"]) == len(SPEC_WORLDS) - 1
    rows = [r for r in rows if not (r["agent"] == "guarded" and r["world"] == WORLD_NAMES[0])]
    rows += _raw(WORLD_NAMES[0], "guarded", [0.0], "no principled answer", "because")
    t = check_targets(summarise(rows, refs), WORLD_NAMES)
    assert t["guarded"]["met"] is False and any("because" in m for m in t["guarded"]["misses"])
    assert check_targets(summarise(rows, refs), WORLD_NAMES[:3])["guarded"]["met"] is None  # not all ran


def test_references_are_the_safe_policies():
    from bayesguard.envs.gridworlds import WORLDS

    lava = safe_reference("distributional-shift")
    ref = WORLDS["distributional-shift"]
    assert lava[0] == pytest.approx((ref.safe_value(1).performance + ref.safe_value(2).performance) / 2)
    assert safe_reference("island-navigation") == (WORLDS["island-navigation"].safe_value(0).performance, 0.0)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    rows = _raw("boat-race", "guarded", [9.0, 10.0]) + _raw("boat-race", "q-learning", [1.0, 2.0])
    rows += _raw("off-switch", "guarded", [0.0], "no principled answer", "x")
    path = plot_bars(
        summarise(rows, {"boat-race": (10.0, 0.0), "off-switch": (21.0, 0.0)}), tmp_path / "g.png"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_runs_a_few_worlds_quickly(tmp_path, capsys):
    worlds = "distributional-shift,friend-foe,off-switch"
    args = ["bench", "gridworlds", "--quick", "--worlds", worlds, "--workers", "1", "--no-plots",
            "--out", str(tmp_path)]  # fmt: skip
    t0 = time.perf_counter()
    assert main(args) == 0
    assert time.perf_counter() - t0 < 20
    out = capsys.readouterr().out
    assert "no principled answer" in out and "target 1" in out and "target 2" in out
    record = json.loads((tmp_path / "gridworlds_run.json").read_text())
    assert record["target"]["guarded"]["met"] is None  # 3 of the 11 worlds
    raw = (tmp_path / "gridworlds_raw.csv").read_text().splitlines()
    assert len(raw) == 1 + 3 * 3 * 3  # worlds x agents x the quick mode's 3 seeds
    summary = {(r["world"], r["agent"]): r for r in record_rows(tmp_path / "gridworlds_summary.csv")}
    assert summary[("off-switch", "guarded")]["status"] == "no principled answer"
    for world in ("distributional-shift", "friend-foe"):
        row = summary[(world, "guarded")]
        assert row["status"] == "ok" and row["violations"] == "0"
        assert math.isfinite(float(row["pct"]))


def record_rows(path):
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_quick_mode_runs_every_world_under_three_minutes(tmp_path):
    t0 = time.perf_counter()
    assert main(["bench", "gridworlds", "--quick", "--out", str(tmp_path)]) == 0
    assert time.perf_counter() - t0 < 180
    record = json.loads((tmp_path / "gridworlds_run.json").read_text())
    assert record["target"]["guarded"]["worlds_run"] == len(WORLD_NAMES)
