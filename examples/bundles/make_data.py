"""Write the example bundles' data (seeded, so the files are reproducible): ``plant.csv`` and
``bandit.csv`` beside this script.

- ``plant.csv``: 300 rows of a linear-Gaussian plant, ``ambient -> pressure <- valve``
  (``pressure = 0.8 ambient + 0.9 valve + 0.5 noise``); ``plant.toml`` asks whether opening the valve
  pushes the pressure above 3.
- ``bandit.csv``: 40 pulls of arms 1 and 2 of the README's exploding bandit (4 binary features, true
  weights ``w = 1010``, reward noise 1); ``bandit.toml`` guards its 3 arms.

Run ``python examples/bundles/make_data.py``, then e.g.
``bayesguard fit examples/bundles/plant.toml --out plant-guard``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ARMS = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)  # (n_actions, n_features)


def plant(n: int = 300, seed: int = 0) -> str:
    """The plant's rows as CSV text (header ``ambient,valve,pressure``)."""
    rng = np.random.default_rng(seed)
    ambient, valve = rng.normal(size=n), rng.normal(size=n)
    pressure = 0.8 * ambient + 0.9 * valve + 0.5 * rng.normal(size=n)
    rows = [f"{a:.6f},{v:.6f},{p:.6f}" for a, v, p in zip(ambient, valve, pressure, strict=True)]
    return "\n".join(["ambient,valve,pressure", *rows]) + "\n"


def bandit(n: int = 40, seed: int = 0) -> str:
    """The pulls as CSV text (header ``f0,f1,f2,f3,reward``)."""
    rng = np.random.default_rng(seed)
    w = np.array([1.0, 0.0, 1.0, 0.0])
    arms = ARMS[rng.integers(1, 3, size=n)]
    rewards = arms @ w + rng.normal(size=n)
    rows = [",".join(f"{x:g}" for x in f) + f",{r:.6f}" for f, r in zip(arms, rewards, strict=True)]
    return "\n".join(["f0,f1,f2,f3,reward", *rows]) + "\n"


if __name__ == "__main__":
    (HERE / "plant.csv").write_text(plant())
    (HERE / "bandit.csv").write_text(bandit())
    print(f"wrote {HERE / 'plant.csv'} and {HERE / 'bandit.csv'}")
