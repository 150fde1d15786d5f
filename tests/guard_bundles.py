"""Small guard bundles of each family for the client and MCP tests, fitted from TOML in a directory.

- plant (causal, exact over every DAG of 3 variables): ``ambient -> pressure <- valve``; the actions
  "do nothing" and "open the valve"; harm ``pressure > 3``. Its verdicts vary with ``ambient``: ALLOW
  at -2, REJECT for opening at 1, ASK for doing nothing at 2.
- bandit: 3 arms with 4 binary features, 40 pulls of arms 1 and 2.
- finite: the two doors, no observations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayesguard.service import build_bundle, fit_guard

ARMS = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)  # (n_actions, n_features)

PLANT = """
family = "causal"
[data]
csv = "plant.csv"
kind = "continuous"
[harm]
event = "pressure > 3"
actions = [{}, { valve = 3.0 }]
action_names = ["do nothing", "open the valve"]
context = ["ambient"]
[rule]
threshold = 0.1
alpha = 0.001
[sampler]
method = "exact"
seed = 0
"""

BANDIT = """
family = "bandit"
[bandit]
n_features = 4
n_actions = 3
sigma = 1.0
harm_threshold = 4.0
[data]
csv = "bandit.csv"
[rule]
threshold = 0.05
alpha = 0.01
[sampler]
method = "exact"
seed = 0
"""

FINITE = """
family = "finite"
[finite]
table = [[[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [0, 0, 1]]]
harmful = [true, false, false]
theory_names = ["left-kills", "left-cake"]
action_names = ["left", "right"]
outcome_names = ["death", "cake", "nothing"]
[rule]
threshold = 0.01
alpha = 0.01
"""


def plant_rows(n: int = 300, seed: int = 0) -> np.ndarray:
    """``(n, 3)`` rows (ambient, valve, pressure) of the plant."""
    rng = np.random.default_rng(seed)
    ambient, valve = rng.normal(size=n), rng.normal(size=n)
    pressure = 0.8 * ambient + 0.9 * valve + 0.5 * rng.normal(size=n)
    return np.column_stack([ambient, valve, pressure])


def _write_csv(path: Path, header: str, rows: np.ndarray) -> None:
    path.write_text("\n".join([header, *(",".join(f"{x:.6f}" for x in r) for r in rows)]) + "\n")


def make_bundle(kind: str, directory: Path) -> Path:
    """Fit the ``kind`` (``"plant"``, ``"bandit"`` or ``"finite"``) guard in ``directory``; its bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "plant":
        _write_csv(directory / "plant.csv", "ambient,valve,pressure", plant_rows())
        text = PLANT
    elif kind == "bandit":
        rng = np.random.default_rng(0)
        arms = ARMS[rng.integers(1, 3, size=40)]
        rewards = arms @ np.array([1.0, 0.0, 1.0, 0.0]) + rng.normal(size=40)
        _write_csv(directory / "bandit.csv", "f0,f1,f2,f3,reward", np.column_stack([arms, rewards]))
        text = BANDIT
    elif kind == "finite":
        text = FINITE
    else:
        raise ValueError(f"kind: expected plant, bandit or finite, got {kind!r}")
    config = directory / f"{kind}.toml"
    config.write_text(text)
    fitted = fit_guard(config)
    return build_bundle(fitted.config, directory / "bundle", fitted=fitted)
