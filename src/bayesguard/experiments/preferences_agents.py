"""The agents of ``bayesguard bench preferences``: a reward posterior learned from a simulated human's
answers, the questions put to that human, and a policy chosen under each decision rule.

**The reward posterior** (:func:`reward_posterior`, the one place it is made). Until a sampler for
:class:`~bayesguard.theories.reward.LinearRewardFamily` is wired in, the posterior over the linear reward
``w`` is represented the robust way: ``K`` candidate weight vectors drawn once from the prior, uniform
on the unit sphere (:func:`candidate_family`), held as a
:class:`~bayesguard.theories.reward.FiniteRewardFamily` whose posterior is exact *on that set*. The
approximation is the discretisation of the prior (a posterior narrower than the candidates' spacing
collapses onto the nearest few); the truth need not be a candidate. Swap :func:`reward_posterior` for a
sampler and nothing else changes: every agent reads only ``RewardBelief(theories, probs)``.

**Agents** (:func:`choose_policies`). The candidate policies are the optimal policies, in the full grid,
of ``n_plan`` theories drawn from the posterior; the same theories' optimal policies in the *fenced*
grid (they never leave the region the human has seen: the *support* policies); and the optimal policies
of the posterior-mean and the MAP weights. Their exact discounted feature expectations ``mu_pi`` give
the reward of every policy under every theory, ``rewards = theories @ mu.T`` ``(K, n_policies)``, and:

- ``point-mean`` / ``point-map``: the optimal policy of the posterior-mean / MAP weights, the
  point-estimate maximisers;
- ``mean``, ``lcb``, ``worst-case``, ``cvar``, ``broil``: the rule of
  :mod:`bayesguard.guard.reward_rules` over the candidates;
- ``quantilizer``: sample from the top ``q`` of the base distribution (uniform over the support
  policies, the base a human would follow), ranked by posterior-expected reward.

Each agent returns a distribution over the candidates (one-hot except the quantilizer), evaluated
exactly with the true reward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from .._validate import positive_int
from ..guard.reward_rules import RewardRuleConfig, apply_reward_rule
from ..marginal.questions import QueryStrategy, choose_query
from ..theories.reward import FiniteRewardFamily, answer_probs
from ..worlds.goodhart import FEATURES, GoodhartWorld, SimulatedHuman

#: Theories whose posterior probability is below this fraction of the largest are left out of the
#: question scores (their answers cannot move the expected information gain measurably).
LIVE_RTOL = 1e-12


class RewardBelief(NamedTuple):
    """A posterior over reward weights: ``theories`` ``(K, f)`` and ``probs`` ``(K,)`` summing to 1."""

    theories: np.ndarray
    probs: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Posterior-mean weights ``(f,)``."""
        return self.probs @ self.theories

    @property
    def map(self) -> np.ndarray:
        """The most probable theory ``(f,)`` (lowest index on ties)."""
        return self.theories[int(np.argmax(self.probs))]


def sphere_candidates(n: int, n_features: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` draws uniform on the unit sphere in ``R^n_features``: ``(n, n_features)``."""
    gen = np.random.default_rng(rng)
    z = gen.standard_normal((positive_int(n, "n"), positive_int(n_features, "n_features")))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def candidate_family(
    world: GoodhartWorld, n_candidates: int, rng: np.random.Generator | int | None = None, n_actions: int = 2
) -> FiniteRewardFamily:
    """The prior: ``n_candidates`` unit-sphere weight vectors (uniform prior over them), the world's human
    model (the learner knows ``beta`` and ``eps``) and no data yet."""
    return FiniteRewardFamily(
        sphere_candidates(n_candidates, len(FEATURES), rng),
        n_actions=n_actions,
        model=world.human().model,
        feature_names=FEATURES,
        name="goodhart-reward",
    )


def reward_posterior(family: FiniteRewardFamily) -> RewardBelief:
    """The posterior given the family's data: exact over its candidates (see the module docstring)."""
    post = family.posterior()
    return RewardBelief(post.theories, post.probs)


def pair_answer_probs(
    family: FiniteRewardFamily, theories: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """``P(answer | theory, query)`` ``(K, n_pairs, n_answers)`` under the family's human model, given
    its data: :func:`~bayesguard.theories.reward.answer_probs`, with a closed form for the common case
    of a fixed ``beta`` and no "equal" answer, ``P(left) = (1 - eps) sigmoid(beta w.(l - r)) + eps / 2``
    (two answers; the same numbers, about ten times faster)."""
    m = family.model
    if m.beta_fixed and m.indifference == 0:
        p_left = (1.0 - m.eps) * expit(float(m.rationality.betas[0]) * (theories @ (left - right).T))
        p_left += m.eps / 2
        return np.stack([p_left, 1.0 - p_left], axis=-1)
    return answer_probs(theories, left, right, m, given=family.data)


def ask_questions(
    family: FiniteRewardFamily,
    items: np.ndarray,
    pairs: np.ndarray,
    human: SimulatedHuman,
    strategy: str | QueryStrategy,
    budgets: tuple[int, ...],
    rng: np.random.Generator | int | None = None,
) -> dict[int, tuple[FiniteRewardFamily, RewardBelief]]:
    """Ask ``max(budgets)`` questions one at a time and keep the posterior after each budget.

    Args:
        family: the prior family (its data, if any, count as answers already given).
        items: ``(n_items, f)`` features of the things compared (trajectory feature sums).
        pairs: ``(n_pairs, 2)`` the candidate queries (item indices); a pair may be asked again.
        human: who answers (with the true reward).
        strategy: ``eig``, ``disagreement`` or ``random`` (:mod:`bayesguard.marginal.questions`).
        budgets: numbers of answers after which to keep the posterior.
        rng: seed or generator (query tie-breaks and the human's noise).

    Returns:
        budget -> (the family holding the answers so far, its :class:`RewardBelief`).
    """
    gen = np.random.default_rng(rng)
    strategy = QueryStrategy.parse(strategy)
    left, right = items[pairs[:, 0]], items[pairs[:, 1]]
    keep = set(int(b) for b in budgets)
    out: dict[int, tuple[FiniteRewardFamily, RewardBelief]] = {}
    fam = family
    for n in range(max(keep) + 1):  # one question at a time: each answer changes the next question
        belief = reward_posterior(fam)
        if n in keep:
            out[n] = (fam, belief)
        if n == max(keep):
            break
        if strategy is QueryStrategy.RANDOM:  # what choose_query does with all scores tied, unscored
            index = int(gen.integers(pairs.shape[0]))
        else:
            live = belief.probs > LIVE_RTOL * belief.probs.max()
            probs = pair_answer_probs(fam, belief.theories[live], left, right)
            index, _ = choose_query(strategy, np.log(belief.probs[live]), probs, gen)
        fam = fam.conditioned(human.answer(left[index : index + 1], right[index : index + 1], gen))
    return out


@dataclass(frozen=True)
class AgentConfig:
    """The agents' parameters: every rule at the default of
    :class:`~bayesguard.guard.reward_rules.RewardRuleConfig`.

    Attributes:
        n_plan: posterior draws whose optimal policies (full and fenced grid) are the candidates.
        kappa: ``lcb``'s standard deviations; alpha: ``worst-case``'s ``M_alpha``.
        cvar_q: the tail of ``cvar`` and ``broil``; lam: ``broil``'s weight of the mean.
        quantile: the quantilizer's top fraction of its base distribution.
    """

    n_plan: int = 40
    kappa: float = 1.0
    alpha: float = 0.01
    cvar_q: float = 0.1
    lam: float = 0.5
    quantile: float = 0.1

    def __post_init__(self) -> None:
        positive_int(self.n_plan, "n_plan")
        self.rules()  # each RewardRuleConfig validates its numbers, naming the field

    def rules(self) -> dict[str, RewardRuleConfig]:
        """The rules applied over the candidate policies, by agent name."""
        return {
            "mean": RewardRuleConfig("mean"),
            "lcb": RewardRuleConfig("lcb", kappa=self.kappa),
            "worst-case": RewardRuleConfig("worst-case", alpha=self.alpha),
            "cvar": RewardRuleConfig("cvar", q=self.cvar_q),
            "broil": RewardRuleConfig("broil", q=self.cvar_q, lam=self.lam),
            "quantilizer": RewardRuleConfig("quantilizer", q=self.quantile),
        }


#: Every agent, the two point estimates first.
AGENTS = ("point-mean", "point-map", *AgentConfig().rules())


class Candidates(NamedTuple):
    """Candidate policies ``(n, S)`` and the kind of each ``(n,)``: ``point-mean``, ``point-map``,
    ``draw`` (optimal in the full grid for a posterior draw) or ``support`` (optimal in the fenced grid)."""

    policies: np.ndarray
    kinds: np.ndarray


def candidate_policies(
    world: GoodhartWorld, belief: RewardBelief, n_plan: int, rng: np.random.Generator | int | None = None
) -> Candidates:
    """The candidate set of the module docstring: ``2 + 2 n_plan`` policies (duplicates kept, so the
    quantilizer's base is uniform over the draws)."""
    gen = np.random.default_rng(rng)
    draws = belief.theories[gen.choice(belief.probs.size, positive_int(n_plan, "n_plan"), p=belief.probs)]
    point = world.optimal_policies(np.stack([belief.mean, belief.map]))
    policies = np.vstack([point, world.optimal_policies(draws), world.optimal_policies(draws, fenced=True)])
    kinds = np.array(["point-mean", "point-map"] + ["draw"] * n_plan + ["support"] * n_plan)
    return Candidates(policies, kinds)


def choose_policies(
    world: GoodhartWorld,
    belief: RewardBelief,
    config: AgentConfig | None = None,
    rng: np.random.Generator | int | None = None,
    agents: tuple[str, ...] = AGENTS,
) -> tuple[Candidates, dict[str, np.ndarray]]:
    """Every agent's distribution over the candidate policies: ``(n_policies,)`` probabilities each.

    The rules see the whole posterior: ``rewards`` ``(K, n_policies)`` = each candidate policy's exact
    discounted return under each theory, with the posterior ``probs`` ``(K,)``.
    """
    cfg = config or AgentConfig()
    gen = np.random.default_rng(rng)
    cand = candidate_policies(world, belief, cfg.n_plan, gen)
    rewards = belief.theories @ world.evaluate(cand.policies).features.T  # (K, n_policies)
    n = cand.policies.shape[0]
    base = (cand.kinds == "support") / np.sum(cand.kinds == "support")
    out: dict[str, np.ndarray] = {}
    rules = cfg.rules()
    for name in agents:  # a handful of agents; each rule is batched over theories and policies
        if name in ("point-mean", "point-map"):
            out[name] = (np.arange(n) == int(np.flatnonzero(cand.kinds == name)[0])).astype(float)
        elif name in rules:
            res = apply_reward_rule(rules[name], rewards, belief.probs, base=base, rng=gen)
            out[name] = res.policy
        else:
            raise ValueError(f"agents: unknown agent {name!r}; expected some of {AGENTS}")
    return cand, out


def mean_weights_regret(world: GoodhartWorld, belief: RewardBelief) -> tuple[float, float, bool]:
    """True-reward regret ``V* - V^pi`` of the posterior-mean weights' optimal policy, the cosine of the
    posterior mean to ``w*`` (0 when the mean is 0) and whether that policy games."""
    w = belief.mean
    ret = world.evaluate(world.optimal_policies(w))
    norm = float(np.linalg.norm(w))
    cos = float(w @ world.true_weights / norm) if norm > 0 else 0.0
    return world.optimal_true_return() - float(ret.true[0]), cos, bool(ret.gaming[0])
