"""World 1: the unguarded greedy agent dies a quarter of the time; the guarded one never does."""

from __future__ import annotations

import math

import pytest

from bayesguard import Guardrail, exact_posterior
from bayesguard.experiments.two_doors import LEFT, RIGHT, run_two_doors, two_doors_family


def test_unguarded_agent_dies_a_quarter_of_the_time():
    n = 40_000
    out = run_two_doors(n, seed=1, rule="none")
    assert abs(out["death_rate"] - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)


@pytest.mark.parametrize(
    "rule, alpha", [("posterior", None), ("cautious-iid", None), ("cautious", 1e-3), ("cautious", 1.0)]
)
def test_guarded_agent_never_dies(rule, alpha):
    for seed in range(20):
        out = run_two_doors(2_000, seed=seed, rule=rule, threshold=0.1, alpha=alpha)
        assert out["death_rate"] == 0.0
        assert out["allowed"] == ["right door"]


def test_oracle_never_dies_and_earns_more():
    oracle = run_two_doors(20_000, seed=2, rule="oracle")
    guarded = run_two_doors(20_000, seed=2, rule="posterior")
    assert oracle["death_rate"] == 0.0
    assert oracle["reward_mean"] > guarded["reward_mean"]


def test_both_theories_explain_the_data_equally():
    family = two_doors_family()
    post = exact_posterior(family)
    assert post.probs.tolist() == [0.5, 0.5]
    guard = Guardrail(family, post, "posterior", 0.1)
    left, right = guard.check_all(None)
    assert (left.decision, right.decision) == ("REJECT", "ALLOW")
    assert left.posterior_harm == 0.5 and left.witness == 0
    assert left.action == LEFT and right.action == RIGHT
