"""Decision rules for choosing among options when the reward itself is uncertain.

Reward functions are theories too: a posterior over them gives, for each option (an action, a plan, a
policy), a reward under every theory. Each rule is a pure function batched over any leading axes ``...``:

- ``rewards``: ``(..., n_theories, n_options)`` the reward of each option under each theory;
- ``probs``: ``(..., n_theories)`` posterior probabilities (an exact finite posterior or weighted
  samples), summing to 1 over the last axis;
- result: :class:`RewardRuleResult` with ``value`` ``(..., n_options)`` (the score the rule ranks options
  by), ``choice`` ``(...)`` (the chosen option), ``witness`` ``(..., n_options)`` (the theory whose
  reward the value reports, -1 when no single theory does) and ``policy`` ``(..., n_options)`` (the
  probability with which the rule plays each option: one-hot for the deterministic rules).

Deterministic rules choose ``argmax value``; **exactly equal values go to the lowest option index**.

``mean``
    ``E_p[r_a]``. Maximises the posterior-expected reward; no protection against a posterior that is
    wrong (the point-estimate behaviour that Goodharts).
``lcb``
    ``E_p[r_a] - kappa * sd_p[r_a]`` with the weighted (population) standard deviation. Guarantee: the
    value is at most the mean, and by Cantelli's inequality the posterior probability that the reward
    of ``a`` lies below it is at most ``1 / (1 + kappa^2)``.
``worst-case``
    ``min_{t in M_alpha} r_a(t)`` over the cautious set ``M_alpha`` of :mod:`.rules` (same ``alpha``,
    same tie modes). Guarantee (Ville's inequality, as for the cautious harm rule): the value is a lower
    bound on the reward of every option under every member of ``M_alpha``; with prior mass ``p(t*)`` on
    the true theory, ``t*`` stays in ``M_alpha`` at every step with probability at least
    ``1 - alpha / p(t*)``, so with that probability the value lower-bounds the true reward of every
    option at every step (vacuous when ``alpha >= p(t*)``). The value is at most the posterior mean
    restricted to ``M_alpha``, but it can exceed the full posterior mean when a theory outside
    ``M_alpha`` predicts a very low reward (it is below the mean once ``M_alpha`` holds every atom).
``cvar``
    ``CVaR_q``: the mean of the lower ``q`` tail of the posterior distribution of ``r_a`` (BROIL, Brown
    et al. 2020), exact for weighted atoms: the atom at the ``q``-quantile contributes only the fraction
    of its mass needed to fill ``q``. Guarantee (dual form): ``CVaR_q = min E_Q[r_a]`` over every
    distribution ``Q`` with ``Q(t) <= p(t) / q``, so the value lower-bounds the expected reward under
    any such reweighting of the posterior; ``CVaR_1`` is the mean and ``CVaR_q`` equals the minimum over
    theories with positive mass once ``q`` is at most the smallest positive atom. The witness is the
    theory at the ``q``-quantile (the value at risk).
``broil``
    ``lam * mean + (1 - lam) * CVaR_q`` (BROIL's blend); between ``CVaR_q`` and the mean.
``quantilizer``
    (Taylor 2016) sample an option from the top ``q`` fraction of a base distribution ``base`` ``(...,
    n_options)``, ranked by posterior-expected reward (see :func:`quantilizer_distribution`).
    Guarantee: every option's probability is at most ``base / q``, so for any cost ``c >= 0``,
    ``E_quantilizer[c] <= E_base[c] / q``: the quantilizer incurs at most ``1/q`` times the cost of the
    base policy, whatever the cost and whether or not the reward is right.

:func:`regret_harm` turns reward theories into the guard's world (0/1 harm per theory and option), so
the harm rules of :mod:`.rules` can be applied to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from .._validate import as_float_array, parse_option, probabilities, unit_interval
from .rules import TIES, cautious_members, check_ties

#: Relative slack when locating the atom at the ``q``-quantile (rounding of a cumulative sum).
QUANTILE_RTOL = 1e-12


class RewardRule(StrEnum):
    """Rules under reward uncertainty; ``RewardRule("cvar")`` and ``RewardRule.CVAR`` are the same."""

    MEAN = "mean"
    LCB = "lcb"
    WORST_CASE = "worst-case"
    CVAR = "cvar"
    BROIL = "broil"
    QUANTILIZER = "quantilizer"

    @classmethod
    def parse(cls, value: str | RewardRule) -> RewardRule:
        """Return the rule named by ``value``, with an error listing the valid names."""
        return parse_option(cls, value, "rule", "reward rule")


class RewardRuleResult(NamedTuple):
    """Output of a reward rule: ``value``, ``witness`` and ``policy`` ``(..., n_options)``; ``choice``
    ``(...)``."""

    value: np.ndarray
    choice: np.ndarray
    witness: np.ndarray
    policy: np.ndarray


@dataclass(frozen=True)
class RewardRuleConfig:
    """A reward rule and its parameters (each used only by the rules named).

    Attributes:
        rule: the :class:`RewardRule` (or its name).
        kappa: ``lcb``: standard deviations subtracted from the mean, >= 0 (default 1).
        alpha: ``worst-case``: the ``M_alpha`` parameter in (0, 1] (default 0.01, as for harm).
        q: ``cvar``/``broil``: lower-tail fraction; ``quantilizer``: top fraction of the base
            distribution; in (0, 1] (default 0.1).
        lam: ``broil``: weight of the mean in the blend, in [0, 1] (default 0.5).
        ties: ``worst-case``: how ``M_alpha`` fills tied places (see :mod:`.rules`; default "worst").
    """

    rule: RewardRule | str = RewardRule.MEAN
    kappa: float = 1.0
    alpha: float = 0.01
    q: float = 0.1
    lam: float = 0.5
    ties: str = "worst"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", RewardRule.parse(self.rule))
        k = as_float_array(self.kappa, "kappa", ndim=0)
        if k < 0:
            raise ValueError(f"kappa: expected a number >= 0, got {self.kappa!r}")
        unit_interval(self.alpha, "alpha", open_left=True)
        unit_interval(self.q, "q", open_left=True)
        unit_interval(self.lam, "lam")
        if self.ties not in TIES:
            raise ValueError(f"ties: expected one of {TIES}, got {self.ties!r}")


def check_rewards(rewards: object, probs: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``rewards`` ``(..., n_theories, n_options)`` and ``probs`` ``(..., n_theories)``; returns
    float arrays with ``probs`` renormalised to sum exactly to 1."""
    r = as_float_array(rewards, "rewards")
    p = probabilities(probs, "probs")
    if r.ndim < 2 or p.ndim < 1 or r.shape[:-1] != p.shape or r.shape[-1] < 1:
        raise ValueError(
            f"rewards: expected shape (..., n_theories, n_options) matching probs (..., n_theories) = "
            f"{p.shape}, got {r.shape}"
        )
    total = p.sum(axis=-1, keepdims=True)
    if not np.allclose(total, 1.0, atol=1e-6):
        raise ValueError("probs: posterior probabilities must sum to 1 over the last axis")
    return r, p / total


def _deterministic(value: np.ndarray, witness: np.ndarray) -> RewardRuleResult:
    choice = np.argmax(value, axis=-1)  # first maximum: ties go to the lowest index
    policy = (np.arange(value.shape[-1]) == choice[..., None]).astype(np.float64)
    return RewardRuleResult(value, choice, witness, policy)


def _no_witness(value: np.ndarray) -> np.ndarray:
    return np.full(value.shape, -1, dtype=np.int64)


def posterior_mean(rewards: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``E_p[r_a]`` ``(..., n_options)``."""
    return np.matmul(probs[..., None, :], rewards)[..., 0, :]


def posterior_sd(rewards: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Weighted (population) standard deviation of ``r_a`` over the posterior, ``(..., n_options)``."""
    dev = rewards - posterior_mean(rewards, probs)[..., None, :]
    return np.sqrt(np.matmul(probs[..., None, :], dev**2)[..., 0, :])


def mean_rule(rewards: np.ndarray, probs: np.ndarray) -> RewardRuleResult:
    """Choose the option with the largest posterior-expected reward (no witness)."""
    value = posterior_mean(rewards, probs)
    return _deterministic(value, _no_witness(value))


def lcb_rule(rewards: np.ndarray, probs: np.ndarray, kappa: float) -> RewardRuleResult:
    """``mean - kappa * sd``. Guarantee: ``value <= mean``, and ``P_p(r_a < value) <= 1/(1+kappa^2)``
    (Cantelli's one-sided Chebyshev inequality under the posterior)."""
    value = posterior_mean(rewards, probs) - kappa * posterior_sd(rewards, probs)
    return _deterministic(value, _no_witness(value))


def worst_case_rule(
    rewards: np.ndarray,
    probs: np.ndarray,
    alpha: float,
    ties: str = "worst",
    tie_rank: np.ndarray | None = None,
) -> RewardRuleResult:
    """``min`` of ``r_a(t)`` over ``M_alpha``; the witness is the member attaining it (lowest index on
    ties). Guarantee: the value is at most the reward of every option under every member of
    ``M_alpha``, hence (Ville) a lower bound on the true reward at every step with probability at least
    ``1 - alpha / p(t*)`` (see the module docstring)."""
    inside = cautious_members(probs, alpha, ties, tie_rank)
    masked = np.where(inside[..., :, None], rewards, np.inf)
    witness = np.argmin(masked, axis=-2)
    value = np.take_along_axis(rewards, witness[..., None, :], axis=-2)[..., 0, :]
    return _deterministic(value, witness)


def cvar(rewards: np.ndarray, probs: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact lower-tail ``CVaR_q`` of ``r_a`` under the weighted atoms ``probs``.

    Returns:
        ``(value, var_theory)``, both ``(..., n_options)``: ``CVaR_q = (1/q) sum_i m_i r_(i)`` over the
        atoms sorted by increasing reward, with ``m_i = clip(q - (p_(1)+...+p_(i-1)), 0, p_(i))`` (the
        atom at the quantile contributes only the mass needed to fill ``q``), and the index of the
        theory at the ``q``-quantile (the first sorted atom whose cumulative mass reaches ``q``).
    """
    order = np.argsort(rewards, axis=-2, kind="stable")
    r_sorted = np.take_along_axis(rewards, order, axis=-2)
    p_sorted = np.take_along_axis(np.broadcast_to(probs[..., :, None], rewards.shape), order, axis=-2)
    cum = np.cumsum(p_sorted, axis=-2)
    taken = np.clip(q - (cum - p_sorted), 0.0, p_sorted)
    value = (taken * r_sorted).sum(axis=-2) / q
    at = np.argmax(cum >= q * (1.0 - QUANTILE_RTOL), axis=-2)
    var_theory = np.take_along_axis(order, at[..., None, :], axis=-2)[..., 0, :]
    return value, var_theory


def cvar_rule(rewards: np.ndarray, probs: np.ndarray, q: float) -> RewardRuleResult:
    """Choose by ``CVaR_q`` (see :func:`cvar`); the witness is the theory at the ``q``-quantile.
    Guarantee: ``value = min_Q E_Q[r_a]`` over distributions with ``Q(t) <= p(t)/q``, so ``value <= mean``,
    ``CVaR_1 = mean`` and ``CVaR_q = min_{t: p(t) > 0} r_a(t)`` for ``q <= min_{p(t)>0} p(t)``."""
    value, witness = cvar(rewards, probs, q)
    return _deterministic(value, witness)


def broil_rule(rewards: np.ndarray, probs: np.ndarray, q: float, lam: float) -> RewardRuleResult:
    """BROIL's blend ``lam * mean + (1 - lam) * CVaR_q``; ``CVaR_q <= value <= mean``; no witness."""
    tail, _ = cvar(rewards, probs, q)
    value = lam * posterior_mean(rewards, probs) + (1.0 - lam) * tail
    return _deterministic(value, _no_witness(value))


def quantilizer_distribution(value: np.ndarray, base: np.ndarray, q: float) -> np.ndarray:
    """The ``q``-quantilizer of ``base``: ``(..., n_options)`` probabilities.

    Options are ranked by ``value`` ``(..., n_options)`` (descending; equal values in increasing index)
    and take their ``base`` ``(..., n_options)`` mass, in that order, until the mass ``q`` is filled;
    the option at the boundary takes only the remaining mass; the result is divided by ``q``.

    Guarantee: ``0 <= result <= base / q`` elementwise and the result sums to 1, so
    ``E_result[c] <= E_base[c] / q`` for every cost ``c >= 0``. ``q = 1`` gives ``base``; as ``q -> 0``
    it concentrates on the best option with positive base mass.
    """
    order = np.argsort(-value, axis=-1, kind="stable")
    b_sorted = np.take_along_axis(base, order, axis=-1)
    taken = np.clip(q - (np.cumsum(b_sorted, axis=-1) - b_sorted), 0.0, b_sorted) / q
    out = np.empty_like(taken)
    np.put_along_axis(out, order, taken, axis=-1)
    return out


def sample_options(
    policy: np.ndarray, rng: np.random.Generator | int | None = None, size: int | None = None
) -> np.ndarray:
    """Draw option indices from ``policy`` ``(..., n_options)`` rows: ``(...)``, or ``(size, ...)``.

    Options with zero probability are never drawn (inverse CDF on the row normalised to end at 1)."""
    rng = np.random.default_rng(rng)
    cdf = np.cumsum(policy, axis=-1)
    cdf = cdf / cdf[..., -1:]
    shape = policy.shape[:-1] if size is None else (size, *policy.shape[:-1])
    u = rng.random(shape)
    return (cdf <= u[..., None]).sum(axis=-1)


def quantilize(
    value: np.ndarray,
    base: np.ndarray,
    q: float,
    rng: np.random.Generator | int | None = None,
    size: int | None = None,
) -> np.ndarray:
    """Sample options from :func:`quantilizer_distribution`: ``(...)``, or ``(size, ...)`` draws."""
    return sample_options(quantilizer_distribution(value, base, q), rng, size)


def check_base(base: object, n_options: int, batch: tuple[int, ...]) -> np.ndarray:
    """Validate a base distribution ``(..., n_options)`` (broadcastable to the batch), rows summing to 1."""
    b = probabilities(base, "base")
    if b.ndim < 1 or b.shape[-1] != n_options:
        raise ValueError(f"base: expected shape (..., {n_options}) (one mass per option), got {b.shape}")
    if not np.allclose(b.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("base: the base distribution must sum to 1 over the options")
    try:
        return np.broadcast_to(b / b.sum(axis=-1, keepdims=True), (*batch, n_options))
    except ValueError:
        raise ValueError(f"base: shape {b.shape} does not broadcast to {(*batch, n_options)}") from None


def quantilizer_rule(
    rewards: np.ndarray,
    probs: np.ndarray,
    base: np.ndarray,
    q: float,
    rng: np.random.Generator | int | None = None,
) -> RewardRuleResult:
    """Quantilize ``base`` ranked by posterior-expected reward; ``value`` is that expected reward,
    ``policy`` the quantilizer distribution and ``choice`` one draw from it (with ``rng``)."""
    value = posterior_mean(rewards, probs)
    policy = quantilizer_distribution(value, base, q)
    return RewardRuleResult(value, sample_options(policy, rng), _no_witness(value), policy)


def apply_reward_rule(
    config: RewardRuleConfig | RewardRule | str,
    rewards: object,
    probs: object,
    *,
    base: object | None = None,
    rng: np.random.Generator | int | None = None,
    tie_rank: np.ndarray | None = None,
    validate: bool = True,
) -> RewardRuleResult:
    """Apply a reward rule to ``rewards`` ``(..., n_theories, n_options)`` and ``probs``
    ``(..., n_theories)``.

    Args:
        config: a :class:`RewardRuleConfig`, or a rule (name) with the default parameters.
        base: ``(..., n_options)`` the base distribution, required by ``quantilizer``.
        rng: seed or generator for the quantilizer's draw.
        tie_rank: with ``ties="random"`` for ``worst-case``, ``(..., n_theories)`` distinct integers.
        validate: check shapes and ranges (and renormalise ``probs``).

    Returns:
        :class:`RewardRuleResult`.
    """
    cfg = config if isinstance(config, RewardRuleConfig) else RewardRuleConfig(rule=config)
    if validate:
        rewards, probs = check_rewards(rewards, probs)
    r, p = np.asarray(rewards, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    rule = cfg.rule
    if rule is RewardRule.MEAN:
        return mean_rule(r, p)
    if rule is RewardRule.LCB:
        return lcb_rule(r, p, float(cfg.kappa))
    if rule is RewardRule.WORST_CASE:
        check_ties(cfg.ties, tie_rank)
        return worst_case_rule(r, p, float(cfg.alpha), cfg.ties, tie_rank)
    if rule is RewardRule.CVAR:
        return cvar_rule(r, p, float(cfg.q))
    if rule is RewardRule.BROIL:
        return broil_rule(r, p, float(cfg.q), float(cfg.lam))
    if base is None:
        raise ValueError("base: the quantilizer needs a base distribution (..., n_options) over the options")
    b = check_base(base, r.shape[-1], r.shape[:-2]) if validate else np.asarray(base, dtype=np.float64)
    return quantilizer_rule(r, p, b, float(cfg.q), rng)


def regret_harm(rewards: object, tol: float = 0.0) -> np.ndarray:
    """0/1 harm of each option under each reward theory: regret ``max_b r_b(t) - r_a(t) > tol``.

    Args:
        rewards: ``(..., n_theories, n_options)``.
        tol: regret tolerated, >= 0.

    Returns:
        ``(..., n_theories, n_options)`` float harm in {0, 1}, ready for the harm rules of :mod:`.rules`
        (e.g. the cautious rule: reject an option that some plausible theory says wastes more than
        ``tol`` of reward).
    """
    r = as_float_array(rewards, "rewards")
    if r.ndim < 2:
        raise ValueError(f"rewards: expected shape (..., n_theories, n_options), got {r.shape}")
    t = float(as_float_array(tol, "tol", ndim=0))
    if t < 0:
        raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
    return (r.max(axis=-1, keepdims=True) - r > t).astype(np.float64)
