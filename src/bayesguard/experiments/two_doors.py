"""World 1, the two doors of the talk: two theories that explain the data equally well.

Under theory ``left-kills`` the left door kills and the right door gives cake; under ``left-cake`` the left
door gives cake and the right door gives nothing. A greedy agent that trusts one theory (drawn from the
posterior) goes for the cake; it opens the deadly door when it trusts ``left-cake`` while ``left-kills`` is
true: a quarter of the time. A guard that marginalises over both theories sees P(harm | left) = 1/2 and
rejects the left door, so the guarded agent never dies.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import positive_int
from ..guard.guardrail import Guardrail
from ..inference.exact import exact_posterior
from ..theories.finite import FiniteFamily

LEFT, RIGHT = 0, 1
DEATH, CAKE, NOTHING = 0, 1, 2
#: Reward of each outcome (death, cake, nothing); death is the harm, counted apart from reward.
OUTCOME_REWARD = np.array([0.0, 1.0, 0.0])


def two_doors_family() -> FiniteFamily:
    """The two theories of the talk's toy world, uniform prior."""
    table = np.zeros((2, 2, 3))
    table[0, LEFT, DEATH] = table[0, RIGHT, CAKE] = 1.0  # left-kills
    table[1, LEFT, CAKE] = table[1, RIGHT, NOTHING] = 1.0  # left-cake
    return FiniteFamily(
        table,
        harmful=np.array([True, False, False]),
        theory_names=("left-kills", "left-cake"),
        action_names=("left door", "right door"),
        outcome_names=("death", "cake", "nothing"),
        name="two-doors",
    )


def run_two_doors(
    n_episodes: int,
    seed: int,
    rule: str = "none",
    threshold: float = 0.1,
    alpha: float | None = None,
) -> dict:
    """Play ``n_episodes`` one-step episodes, vectorised over episodes.

    Each episode draws the true theory and the theory the agent trusts, independently and uniformly; the
    agent takes the allowed door with the highest expected reward under its trusted theory (the guard's
    verdicts are the same in every episode, since no data separate the theories).

    Returns:
        ``{"rule", "threshold", "alpha", "episodes", "death_rate", "death_se", "reward_mean",
        "allowed"}`` where ``allowed`` lists the doors the guard allows.
    """
    n = positive_int(n_episodes, "episodes")
    family = two_doors_family()
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, family.n_theories, n)
    trust = rng.integers(0, family.n_theories, n)
    u = rng.random(n)
    prior = exact_posterior(family)
    if rule == "oracle":  # the oracle's verdicts depend on the true theory of each episode
        by_truth = [
            Guardrail(family, prior, rule, threshold, true_theory=t).allowed_actions(None)
            for t in range(family.n_theories)
        ]
        allowed = np.array(by_truth)[truth]  # (n, n_actions)
    else:
        guard = Guardrail(family, prior, rule, threshold, alpha=alpha)
        allowed = np.broadcast_to(guard.allowed_actions(None), (n, family.n_actions))
    expected = family.outcome_probs @ OUTCOME_REWARD  # (n_theories, n_actions)
    value = np.where(allowed, expected[trust], -np.inf)
    door = np.argmax(value, axis=1)  # all-rejected rows: door 0 is masked out below
    acted = allowed.any(axis=1)
    cdf = np.cumsum(family.outcome_probs[truth, door], axis=1)
    outcome = (cdf <= u[:, None]).sum(axis=1)
    died = acted & family.harmful[outcome]
    reward = np.where(acted, OUTCOME_REWARD[outcome], 0.0)
    rate = float(died.mean())
    return {
        "rule": rule,
        "threshold": threshold,
        "alpha": alpha,
        "episodes": n,
        "death_rate": rate,
        "death_se": math.sqrt(rate * (1 - rate) / n),
        "reward_mean": float(reward.mean()),
        "allowed": [family.action_names[a] for a in np.flatnonzero(allowed[0])],
    }
