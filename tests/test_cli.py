"""The command line: demo and bench bandit write their files; bad arguments get clear errors."""

from __future__ import annotations

import csv
import json

import pytest

from bayesguard.cli import main


def test_demo_writes_tables_and_plot(tmp_path, capsys):
    assert main(["demo", "--episodes", "400", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "two doors" in text and "REJECT" in text and "exploding bandit" in text
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    with (tmp_path / "demo_two_doors.csv").open() as fh:
        rows = {r["rule"]: r for r in csv.DictReader(fh)}
    assert float(rows["posterior"]["death_rate"]) == 0.0
    assert float(rows["none"]["death_rate"]) > 0.1
    assert "World 3 in miniature" in text and "causal path: valve" in text
    with (tmp_path / "demo_valve.csv").open() as fh:
        valve = [
            (r["guard"], r["action_name"], r["decision"], r["witness_source"]) for r in csv.DictReader(fh)
        ]
    # the valve -> pressure theory: invisible at alpha = 0.01 and to a sample that missed it; seen by the
    # finer cautious set, by the harm-seeking search and through the engineer's theory
    opening = {g: (d, w) for g, a, d, w in valve if a == "open the valve"}
    assert opening == {
        "exact, alpha=0.01": ("ALLOW", "posterior"),
        "exact, alpha=1e-4": ("ASK", "posterior"),
        "sample missing it": ("ALLOW", "posterior"),
        "sample + search": ("ASK", "search"),
        "sample + engineer": ("ASK", "human"),
    }
    assert all(d == "ALLOW" for g, a, d, w in valve if a == "do nothing")


def test_bench_bandit_writes_grid_tightness_json_and_plots(tmp_path):
    args = ["bench", "bandit", "--episodes", "30", "--thresholds", "0.01,0.1", "--alphas", "0.001,1"]
    assert main([*args, "--workers", "1", "--out", str(tmp_path)]) == 0
    with (tmp_path / "bandit_grid.csv").open() as fh:
        grid = list(csv.DictReader(fh))
    assert len(grid) == 2 * (4 + 3 * 2)  # 4 plain rules + 2 alphas x 3 tie modes, at 2 thresholds
    assert {"reward_mean", "reward_se", "death_rate", "death_se"} <= set(grid[0])
    with (tmp_path / "bandit_tightness.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3 * 2
    meta = json.loads((tmp_path / "bandit_run.json").read_text())
    assert meta["episodes"] == 30 and meta["seed"] == 0 and "machine" in meta
    assert (tmp_path / "bandit_grid.png").exists() and (tmp_path / "bandit_tightness.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "bandit", "--episodes", "0"], "positive integer"),
        (["bench", "bandit", "--alphas", "x"], "comma-separated numbers"),
        (["bench", "bandit", "--ties", "bogus"], "subset of"),
        (["bench", "bandit", "--alphas", "2", "--episodes", "2", "--no-plots"], "alpha"),
        (["bench", "bandit", "--thresholds", "-1", "--episodes", "2", "--no-plots"], "threshold"),
    ],
)
def test_bad_arguments_exit_with_a_clear_error(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bench_structure_writes_raw_summary_and_plot(tmp_path):
    pytest.importorskip("torch")
    args = ["bench", "structure", "--seeds", "2", "--budgets", "0.5,1", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    with (tmp_path / "structure_small_raw.csv").open() as fh:
        raw = list(csv.DictReader(fh))
    assert len(raw) == 2 * 2 * 2  # seeds x samplers x budgets
    assert all(0 <= float(r["jsd"]) <= 0.6932 for r in raw)
    with (tmp_path / "structure_small.csv").open() as fh:
        summary = list(csv.DictReader(fh))
    assert {(r["sampler"], float(r["budget_s"])) for r in summary} == {
        (s, b) for s in ("gflownet", "mcmc") for b in (0.5, 1.0)
    }
    assert (tmp_path / "structure_small.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "structure_small_run.json").read_text())["seeds"] == [0, 1]


def test_bench_structure_rejects_unknown_sampler(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "structure", "--samplers", "gibbs"])
    assert "gflownet and/or mcmc" in capsys.readouterr().err
