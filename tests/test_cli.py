"""The command line: demo and bench bandit write their files; bad arguments get clear errors; every
registered option has help and shows its default; the one report writer writes CSV, JSON, table, plots."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from bayesguard.cli import build_parser, main
from bayesguard.experiments.registry import REGISTRY, Experiment, NeedsExtra, Option, Registry, positive
from bayesguard.experiments.report import Plot, Result, Table, col, pm, write_report
from bayesguard.experiments.results import durable_open


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
    # every verdict says whether its number is guaranteed, in the printed tables and in the CSVs
    assert text.count("guaranteed") >= 2
    for name in ("demo_valve.csv", "demo_verdicts.csv"):
        with (tmp_path / name).open() as fh:
            rows = list(csv.DictReader(fh))
        assert rows and {r["guaranteed"] for r in rows} <= {"True", "False"} and "assumptions" in rows[0]
    meta = json.loads((tmp_path / "demo_run.json").read_text())
    assert meta["episodes"] == 400 and "machine" in meta and "demo_valve.csv" in meta["files"]


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


# --- the registry and the report writer ------------------------------------------------------------


def _help_text(command: tuple[str, ...], capsys, monkeypatch=None) -> str:
    if monkeypatch is not None:  # a wide terminal: argparse also wraps at hyphens ("comma- separated")
        monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*command, "--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # undo the help formatter's line wrapping


def test_registry_holds_every_command():
    commands = {exp.command for exp in REGISTRY}
    assert commands == {
        ("demo",),
        ("bench", "bandit"),
        ("bench", "structure"),
        ("bench", "structure-scale"),
        ("bench", "plant"),
        ("bench", "ood"),
        ("bench", "reward-posterior"),
        ("bench", "preferences"),
        ("bench", "gridworlds"),
        ("fit",),
        ("audit", "verify"),
        ("audit", "replay"),
        ("serve",),
        ("keys", "add"),
        ("keys", "list"),
        ("keys", "revoke"),
        ("mcp",),
    }


@pytest.mark.parametrize("exp", list(REGISTRY), ids=lambda e: " ".join(e.command))
def test_every_option_has_help_and_its_default_in_help_output(exp, capsys, monkeypatch):
    text = _help_text(exp.command, capsys, monkeypatch)
    assert exp.help in text
    for opt in exp.options:
        assert opt.help.strip(), f"{opt.flag} has no help"
        assert f"{opt.help} (default: {opt.shown_default()})" in text, opt.flag
    # the default shown is the default used
    args = build_parser().parse_args(list(exp.command))
    for opt in exp.options:
        assert getattr(args, opt.dest) == opt.default, opt.flag


def _fake_registry(calls: list) -> Registry:
    reg = Registry()

    def draw(rows, path: Path) -> Path:
        path.write_bytes(b"png" * len(rows))
        return path

    @reg.register(
        "fake",
        group="bench",
        help="a tiny fake experiment",
        options=(
            Option("--n", "rows to make", 3, positive),
            Option("--out", "directory", "unused", str),
            Option("--no-plots", "write no plots", False),
        ),
    )
    def fake(args: argparse.Namespace) -> Result:
        calls.append(args.n)
        raw = [{"i": i, "x": i / 2, "x_se": 0.1} for i in range(args.n)]
        summary = [{"n": args.n, "mean": sum(r["x"] for r in raw) / args.n}]
        return Result(
            raw={"fake_raw.csv": raw},
            summary={"fake.csv": summary},
            tables=(Table(raw, {"row": col("i"), "x ± 2se": pm("x", 2)}, title="the fake table"),),
            settings={"n": args.n},
            timings={"part_seconds": 0.5},
            record="fake_run.json",
            plots=(Plot("fake.png", draw, (raw,)),),
            notes=("a note",),
        )

    return reg


def test_report_writer_writes_csv_json_table_and_plot_of_a_fake_experiment(tmp_path, capsys):
    calls: list = []
    reg = _fake_registry(calls)
    assert main(["bench", "fake", "--n", "4", "--out", str(tmp_path)], registry=reg) == 0
    assert calls == [4]
    with (tmp_path / "fake_raw.csv").open() as fh:
        raw = list(csv.DictReader(fh))
    assert [r["i"] for r in raw] == ["0", "1", "2", "3"] and list(raw[0]) == ["i", "x", "x_se"]
    with (tmp_path / "fake.csv").open() as fh:
        assert list(csv.DictReader(fh)) == [{"n": "4", "mean": "0.75"}]
    meta = json.loads((tmp_path / "fake_run.json").read_text())
    assert meta["command"] == f"bayesguard bench fake --n 4 --out {tmp_path}"
    assert meta["n"] == 4 and meta["part_seconds"] == 0.5 and meta["seconds"] >= 0
    assert meta["options"] == {"n": 4, "out": str(tmp_path), "no_plots": False}
    assert meta["files"] == ["fake_raw.csv", "fake.csv"]
    assert {"platform", "cpu_count", "python", "numpy"} <= set(meta["machine"]) and "git_commit" in meta
    assert (tmp_path / "fake.png").read_bytes() == b"png" * 4
    out = capsys.readouterr().out.splitlines()
    i = out.index("the fake table")
    assert out[i + 1].split() == ["row", "x", "±", "2se"] and set(out[i + 2].replace(" ", "")) == {"-"}
    assert out[i + 3].split() == ["0", "0.00", "±", "0.20"] and out[i + 1].index("x") == out[i + 3].index(
        "0.00"
    )
    assert "a note" in out and any(line.startswith("wrote ") and "fake_run.json" in line for line in out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left

    (tmp_path / "fake.png").unlink()
    assert main(["bench", "fake", "--no-plots", "--out", str(tmp_path)], registry=reg) == 0
    assert not (tmp_path / "fake.png").exists()
    # the fake is registered only where the test put it
    with pytest.raises(SystemExit):
        main(["bench", "fake", "--out", str(tmp_path)])


def test_write_report_without_matplotlib_says_so(tmp_path, capsys):
    def no_matplotlib(rows, path):
        raise ImportError("plots need matplotlib")

    result = Result(raw={"r.csv": [{"a": 1}]}, plots=(Plot("p.png", no_matplotlib, ([],)),) * 2)
    written = write_report(result, tmp_path)
    assert [p.name for p in written] == ["r.csv"]  # no record asked for: no JSON
    assert capsys.readouterr().out.count("no plots: plots need matplotlib") == 1


def test_a_missing_extra_exits_2_with_the_install_hint(tmp_path, capsys):
    reg = Registry()

    @reg.register("needy", help="needs an extra", options=(Option("--out", "directory", str(tmp_path), str),))
    def needy(args):
        raise NeedsExtra("needy needs PyTorch: pip install 'bayesguard[gfn]'")

    assert main(["needy"], registry=reg) == 2
    assert "pip install" in capsys.readouterr().err


def test_registry_refuses_options_without_help_duplicates_and_no_out():
    with pytest.raises(ValueError, match="help"):
        Option("--n", "  ", 1, int)
    out = Option("--out", "directory", ".", str)
    with pytest.raises(ValueError, match="--out"):
        Experiment("x", "x", (Option("--n", "n", 1, int),), lambda a: Result())
    with pytest.raises(ValueError, match="twice"):
        Experiment("x", "x", (out, out), lambda a: Result())
    reg = Registry()
    reg.add(Experiment("x", "x", (out,), lambda a: Result()))
    with pytest.raises(ValueError, match="already registered"):
        reg.add(Experiment("x", "y", (out,), lambda a: Result()))


def test_durable_open_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "record.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), durable_open(path) as fh:
        fh.write("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["record.csv"]
