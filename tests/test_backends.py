"""Sweeps on a local process pool and on Ray give the same rows for the same seeds, in task order; task
errors name the task; bad backends, addresses and a missing Ray are clear errors.

Ray starts once for the module (2 CPUs, the ``ray_local`` fixture): a start costs several seconds. The
columns that measure time or memory (``seconds``, ``decision_ms_*``...) differ between any two runs and
are left out of the comparisons; every other value must be exactly equal (NaN equal to NaN).
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time

import _backend_tasks
import numpy as np
import pytest
from _backend_tasks import fail_on_two, slow_square

from bayesguard.cli import main
from bayesguard.experiments.backends import TaskError, check_backend, ray_session, run_tasks
from bayesguard.experiments.bandit_episodes import BanditConfig
from bayesguard.experiments.bandit_grid import Cell, run_grid
from bayesguard.experiments.gridworlds import GridBenchConfig, run_gridworlds
from bayesguard.experiments.plant import RULES, PlantConfig, run_plant
from bayesguard.experiments.registry import NeedsExtra
from bayesguard.experiments.structure_scale import run_structure_scale

ray = pytest.importorskip("ray")

#: Columns that measure time or memory: they differ between any two runs, on any backend.
MEASURED = {
    "seconds",
    "exact_seconds",
    "sampler_seconds",
    "peak_rss_mb",
    "decision_ms_mean",
    "decision_ms_max",
    "update_ms",
}


def _same(a, b) -> bool:
    """Exactly equal values (NaN equals NaN; arrays element by element)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _assert_same_rows(left: list[dict], right: list[dict]) -> None:
    assert len(left) == len(right) and left
    for i, (x, y) in enumerate(zip(left, right, strict=True)):
        assert x.keys() == y.keys(), i
        diff = [k for k in x if k not in MEASURED and not _same(x[k], y[k])]
        assert not diff, (i, {k: (x[k], y[k]) for k in diff})


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module, 2 CPUs; the test tasks travel by value (they are not installed)."""
    ray.cloudpickle.register_pickle_by_value(_backend_tasks)
    with ray_session(None, workers=2) as r:
        yield r
    ray.cloudpickle.unregister_pickle_by_value(_backend_tasks)


# ------------------------------------------------------------------------------ no Ray needed
def test_bad_backend_workers_and_address_name_the_field():
    with pytest.raises(ValueError, match="backend"):
        run_tasks(abs, [1], backend="dask")
    with pytest.raises(ValueError, match="workers"):
        run_tasks(abs, [1], workers=0)
    with pytest.raises(ValueError, match="address.*needs backend 'ray'"):
        check_backend("local", None, "auto")
    for bad in ("localhost", "http//x:1", "ray://host", "host:port"):
        with pytest.raises(ValueError, match="address"):
            check_backend("ray", None, bad)
    check_backend("ray", 2, "ray://head.example:10001")  # the forms that are accepted
    check_backend("ray", None, "10.0.0.5:6379")
    check_backend("ray", None, "auto")


def test_local_serial_and_pool_keep_task_order_and_name_a_failing_task():
    assert run_tasks(slow_square, range(4), workers=2) == [0, 1, 4, 9]
    assert run_tasks(slow_square, range(4), workers=1) == [0, 1, 4, 9]
    assert run_tasks(abs, []) == []
    for workers in (1, 2):
        with pytest.raises(TaskError, match=r"task 2 of 4, fail_on_two\(2\).*ValueError: bad task 2") as err:
            run_tasks(fail_on_two, range(4), workers=workers)
        assert err.value.index == 2 and err.value.task == 2
        assert isinstance(err.value.__cause__, ValueError)
        assert isinstance(err.value, ValueError)  # bad input stays a ValueError (the CLI's clean exit)
    with pytest.raises(TypeError, match=r"task 1 of 2, abs\('x'\)"):
        run_tasks(abs, [1, "x"], workers=1)
    with pytest.raises(TaskError, match="OverflowError") as err:
        run_tasks(math.exp, [1.0, 1e4], workers=1)
    assert not isinstance(err.value, ValueError | TypeError)


def test_ray_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(NeedsExtra, match=r"pip install 'bayesguard\[ray\]'"):
        run_tasks(abs, [1], backend="ray")


def test_unreachable_address_fails_fast_naming_it():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"address: no Ray cluster answers at '127.0.0.1:1'"):
        run_tasks(abs, [1], backend="ray", address="127.0.0.1:1")
    assert time.perf_counter() - t0 < 10


def test_cli_refuses_an_address_without_ray(tmp_path, capsys):
    argv = ["bench", "bandit", "--episodes", "2", "--address", "auto", "--no-plots", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "needs backend 'ray'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ on Ray
def test_ray_keeps_task_order_and_names_a_failing_task(ray_local):
    assert run_tasks(slow_square, range(4), backend="ray") == [0, 1, 4, 9]
    with pytest.raises(TaskError, match=r"task 2 of 4, fail_on_two\(2\).*ValueError: bad task 2") as err:
        run_tasks(fail_on_two, range(4), backend="ray")
    assert err.value.index == 2 and isinstance(err.value.__cause__, ValueError)
    assert ray_local.is_initialized()  # a Ray the caller started is left running


def test_bandit_grid_identical_on_ray(ray_local):
    cells = [Cell("none", 0.01), Cell("posterior", 0.01), Cell("cautious", 0.01, 0.01, "random")]
    args = (BanditConfig(), 40, 3, cells)
    local = run_grid(*args, batch_size=10, workers=2, progress=False)
    on_ray = run_grid(*args, batch_size=10, workers=2, progress=False, backend="ray")
    assert local == on_ray
    assert local != run_grid(BanditConfig(), 40, 4, cells, batch_size=10, workers=1, progress=False)


def test_structure_sweep_identical_on_ray(ray_local):
    kwargs = dict(graphs=["ER-1"], n_samples=[50], scores=["bge", "bdeu"], samplers=(), large_samplers=())
    local = run_structure_scale([4, 5], [], [0], 1.0, workers=2, progress=False, **kwargs)
    on_ray = run_structure_scale([4, 5], [], [0], 1.0, progress=False, backend="ray", **kwargs)
    _, cost, _ = local
    assert [(r["d"], r["score"], r["prior"]) for r in cost] == [
        (d, k, p) for d in (4, 5) for k in ("bge", "bdeu") for p in ("order-modular", "structure-modular")
    ]
    _assert_same_rows(cost, on_ray[1])


def test_plant_sweep_identical_on_ray(ray_local):
    cfg = PlantConfig(d=8, steps=3, n_graphs=50, n_obs=50)
    rules = (RULES[0], RULES[2], RULES[3])
    local = run_plant([0, 1], ["dp"], rules=rules, cfg=cfg, workers=2, progress=False)
    on_ray = run_plant([0, 1], ["dp"], rules=rules, cfg=cfg, workers=2, progress=False, backend="ray")
    assert [(r["seed"], r["rule"]) for r in local[::3]] == [(s, r.name) for s in (0, 1) for r in rules]
    _assert_same_rows(local, on_ray)


def test_gridworlds_sweep_identical_on_ray(ray_local):
    cfg = GridBenchConfig(
        q_episodes=5, planner_episodes=3, replan_every=2, guarded_episodes=3, eval_episodes=2
    )
    args = (["off-switch", "whisky-gold"], ["q-learning", "planner"], [0, 1], cfg)
    local = run_gridworlds(*args, workers=2)
    on_ray = run_gridworlds(*args, workers=2, backend="ray")
    assert [(r["world"], r["agent"], r["seed"]) for r in local] == [
        (w, a, s) for w in args[0] for a in args[1] for s in args[2]
    ]
    assert all(r["status"] == "ok" for r in local)
    _assert_same_rows(local, on_ray)


def test_cli_records_the_backend_and_writes_the_same_csv(ray_local, tmp_path):
    argv = ["bench", "bandit", "--episodes", "20", "--batch-size", "10", "--thresholds", "0.01",
            "--alphas", "0.01", "--ties", "worst", "--tightness-episodes", "5", "--workers", "1",
            "--no-plots"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    csvs = []
    for name in ("local", "ray"):
        meta = json.loads((tmp_path / name / "bandit_run.json").read_text())
        assert meta["backend"] == name and meta["address"] is None
        with (tmp_path / name / "bandit_grid.csv").open() as fh:
            csvs.append(list(csv.DictReader(fh)))
    assert csvs[0] == csvs[1] and len(csvs[0]) == 5


@pytest.mark.slow
def test_structure_small_same_problems_on_ray(ray_local):
    """The samplers run to a wall-clock budget, so only what the seeds fix can be equal."""
    pytest.importorskip("torch")
    from bayesguard.experiments.structure_small import run_structure_small

    kwargs = dict(d=4, n_samples=50, expected_edges=3.0, samplers=("mcmc",), workers=2, progress=False)
    local = run_structure_small([0, 1], [0.2], **kwargs)
    on_ray = run_structure_small([0, 1], [0.2], backend="ray", **kwargs)
    fixed = ("seed", "d", "n", "true_edges", "exact_ess", "sampler", "budget_s")
    assert [[r[k] for k in fixed] for r in local] == [[r[k] for k in fixed] for r in on_ray]
