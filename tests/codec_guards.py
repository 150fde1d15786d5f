"""Small guards of every family for the codec tests (:mod:`test_codecs`, :mod:`test_codecs_errors`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesguard import BanditData, Guard, LinearBanditFamily, exact_posterior
from bayesguard.guard.support import SupportConfig
from bayesguard.service.families import fit_guard
from bayesguard.theories import finite_family

ARMS = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)


def finite_guard() -> Guard:
    family = finite_family(
        [[[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [0, 0, 1]]],
        harmful=[True, False, False],
        theory_names=["left-kills", "left-cake"],
        action_names=["left", "right"],
        outcome_names=["death", "cake", "nothing"],
    )
    return Guard(family, exact_posterior(family), "cautious", 0.01)


def bandit_guard() -> Guard:
    family = LinearBanditFamily(n_features=4, n_actions=3, sigma=1.0, harm_threshold=4.0)
    rng = np.random.default_rng(0)
    feats = ARMS[rng.integers(1, 3, size=30)]
    data = BanditData(feats, feats @ np.array([1.0, 0, 1, 0]) + rng.normal(size=30))
    return Guard(
        family,
        exact_posterior(family, data),
        "cautious",
        0.05,
        alpha=0.01,
        support=SupportConfig(contexts=data),
    )


def causal_guard(tmp) -> Guard:
    rng = np.random.default_rng(1)
    ambient, valve = rng.normal(size=200), rng.normal(size=200)
    pressure = 0.8 * ambient + 0.9 * valve + 0.5 * rng.normal(size=200)
    pd.DataFrame({"ambient": ambient, "valve": valve, "pressure": pressure}).to_csv(
        tmp / "p.csv", index=False
    )
    cfg = {
        "data": {"csv": "p.csv"},
        "harm": {"event": "pressure > 3", "actions": [{}, {"valve": 3.0}], "context": ["ambient"]},
        "rule": {"threshold": 0.1, "alpha": 0.001},
    }
    return fit_guard(cfg, tmp).guard


def discrete_guard(tmp) -> Guard:
    rng = np.random.default_rng(2)
    n = 300
    season = rng.choice(["dry", "wet"], n)
    dose = rng.choice(["low", "high"], n)
    sick = rng.random(n) < np.where(dose == "high", 0.6, 0.1) + np.where(season == "wet", 0.2, 0.0)
    frame = pd.DataFrame({"season": season, "dose": dose, "status": np.where(sick, "sick", "ok")})
    frame.to_csv(tmp / "d.csv", index=False)
    cfg = {
        "data": {"csv": "d.csv", "kind": "discrete"},
        "harm": {
            "event": "status == 'sick'",
            "actions": [{}, {"dose": "high"}],
            "context": ["season"],
        },
        "rule": {"threshold": 0.45},
    }
    return fit_guard(cfg, tmp).guard


def codec_guards(tmp) -> dict[str, Guard]:
    """A finite (two doors), a bandit (the README's), a continuous and a discrete causal guard."""
    return {
        "finite": finite_guard(),
        "bandit": bandit_guard(),
        "causal": causal_guard(tmp),
        "discrete": discrete_guard(tmp),
    }
