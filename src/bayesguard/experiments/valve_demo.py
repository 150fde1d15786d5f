"""World 3 in miniature, for ``bayesguard demo``: does opening the valve raise the pressure?

Three linear-Gaussian variables. The truth is ``ambient -> pressure -> valve`` (operators open the valve
when the pressure is high; the valve does not raise it), so observations cannot tell it from
``valve -> pressure -> ambient``, under which opening the valve is dangerous. A manual says the valve
cannot raise the pressure (prior edge probability 0.001), so that theory keeps about 1e-3 of the exact
posterior over all 25 DAGs. Five guards answer:

- the exact posterior with a cautious set too coarse to see that theory (``alpha = 0.01``): ALLOW;
- the exact posterior with ``alpha = 1e-4``: ASK, naming the witness and its causal path;
- 1,000 sampled graphs that miss every ``valve -> pressure`` graph (drawn from the posterior with those
  graphs removed, as a sampler that never visits them would give): ALLOW, the failure the talk warns of;
- the same sample plus the harm-seeking search, and the same sample plus an engineer's written theory
  ``valve -> pressure``: both find the dangerous theory again.
"""

from __future__ import annotations

import numpy as np

from ..guard.causal_guard import CausalGuard
from ..guard.verdict import Verdict
from ..posterior import Posterior
from ..theories.causal.harm import HarmSpec
from ..theories.causal.human import HumanTheory
from ..theories.causal.prior import StructurePrior
from ..theories.causal.scores import BGeScore
from ..theories.causal.structure import StructureScore, exact_structure_posterior

NAMES = ("valve", "pressure", "ambient")


def valve_data(seed: int = 0, n: int = 300) -> np.ndarray:
    """``(n, 3)`` observations of (valve, pressure, ambient) from the true plant."""
    rng = np.random.default_rng(seed)
    ambient = rng.normal(size=n)
    pressure = 0.7 * ambient + 0.7 * rng.normal(size=n)
    valve = 0.8 * pressure + 0.6 * rng.normal(size=n)
    return np.c_[valve, pressure, ambient]


def valve_verdicts(seed: int = 0, threshold: float = 0.05) -> list[tuple[str, str, Verdict]]:
    """``(guard label, action label, verdict)`` for every action under the five guards."""
    x = valve_data(seed)
    probs = np.full((3, 3), 0.5)
    probs[0, 1] = 0.001  # the manual: the valve does not drive the pressure
    prior = StructurePrior.make(NAMES, kind="edge-probs", edge_probs=probs)
    posterior = exact_structure_posterior(StructureScore(BGeScore(x), prior))
    sd = x.std(axis=0)
    spec = HarmSpec(
        NAMES,
        f"pressure > {2.5 * sd[1]:.3f}",
        ({}, {"valve": float(3 * sd[0])}),
        action_names=("do nothing", "open the valve"),
    )
    engineer = HumanTheory(["valve -> pressure", "pressure -> ambient"], "engineer")
    rng = np.random.default_rng(seed)
    blind = posterior.probs * ~posterior.theories[:, 0, 1]
    sample = Posterior.from_samples(posterior.theories[rng.choice(blind.size, 1000, p=blind / blind.sum())])
    opts = dict(prior=prior, threshold=threshold, alpha=1e-4, seed=seed)
    guards = {
        "exact, alpha=0.01": CausalGuard(spec, x, posterior, **{**opts, "alpha": 0.01}),
        "exact, alpha=1e-4": CausalGuard(spec, x, posterior, **opts),
        "sample missing it": CausalGuard(spec, x, sample, **opts),
        "sample + search": CausalGuard(spec, x, sample, search=True, **opts),
        "sample + engineer": CausalGuard(spec, x, sample, human_theories=[engineer], **opts),
    }
    return [(label, spec.action_names[v.action], v) for label, g in guards.items() for v in g.check_all({})]
