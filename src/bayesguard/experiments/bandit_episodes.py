"""Episodes of the exploding bandit (Bengio et al., UAI 2025), advanced in batches.

Each episode draws a true weight vector ``w`` uniformly from ``{0,1}^n_features`` and arm features
``f_i`` uniformly from ``{0,1}^n_features``; arm ``i`` pays ``N(w . f_i, sigma^2)``. A reward above the
harm threshold is an explosion: it counts as a death and ends the episode (the exploding pull's reward
is still added to the episode's reward, as in the paper). The agent is Boltzmann over posterior-mean
rewards, ``softmax(beta * f_a . E[w|D])``; the guard removes the arms it rejects and the agent samples
from the rest; if every arm is rejected the episode ends with no death.

All randomness of an episode is drawn up front (:class:`EpisodeDraws`: the world, one uniform per step
for the agent's choice, one standard normal per step for the reward noise), so every rule in a grid sees
the same worlds, and the batched engine and the per-episode reference give identical trajectories.

Shapes: ``B`` episodes in a batch, ``T = 2**n_features`` theories, ``A = n_arms``, ``K = n_features``,
``S = horizon``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from .._validate import positive_int, unit_interval
from ..guard.rules import Rule, cautious_members, check_ties, harm_estimate
from ..inference.exact import exact_posterior
from ..theories.bandit import BanditData, LinearBanditFamily, harm_table


@dataclass(frozen=True)
class BanditConfig:
    """Parameters of the exploding-bandit world and its agent."""

    n_arms: int = 10
    n_features: int = 10
    horizon: int = 25
    sigma: float = 1.0
    harm_threshold: float = 4.0
    beta: float = 0.5
    explode: bool = True

    def __post_init__(self) -> None:
        positive_int(self.n_arms, "n_arms")
        positive_int(self.n_features, "n_features")
        positive_int(self.horizon, "horizon")
        if self.n_features > 16:
            raise ValueError("n_features: at most 16 for the batched exact posterior")
        if not self.sigma > 0:
            raise ValueError(f"sigma: expected a positive number, got {self.sigma!r}")

    @property
    def family(self) -> LinearBanditFamily:
        return LinearBanditFamily(self.n_features, self.n_arms, self.sigma, self.harm_threshold)


@dataclass(frozen=True)
class EpisodeDraws:
    """Pre-drawn randomness for ``n`` episodes.

    Attributes:
        weights: ``(n, K)`` int8, the true theory of each episode.
        features: ``(n, A, K)`` int8 arm features.
        uniforms: ``(n, S)`` in [0, 1): the agent's choice at each step (inverse CDF).
        noise: ``(n, S)`` standard normals: reward noise at each step.
        tie_rank: ``(n, T)`` int16, a random permutation of ``0..T-1`` per episode; the cautious rule
            with ``ties="random"`` fills tied places in increasing rank (an unbiased random
            tie-break); ``ties="order"`` takes them in the family's listing order instead.
    """

    weights: np.ndarray
    features: np.ndarray
    uniforms: np.ndarray
    noise: np.ndarray
    tie_rank: np.ndarray

    @property
    def n_episodes(self) -> int:
        return int(self.weights.shape[0])

    def subset(self, index: slice | np.ndarray) -> EpisodeDraws:
        return EpisodeDraws(
            self.weights[index],
            self.features[index],
            self.uniforms[index],
            self.noise[index],
            self.tie_rank[index],
        )


@dataclass(frozen=True)
class EpisodeOutcomes:
    """What happened in each episode: all arrays ``(n,)``."""

    reward: np.ndarray
    died: np.ndarray
    steps: np.ndarray
    all_rejected: np.ndarray


#: Compact the working arrays when fewer than this fraction of their rows are live episodes.
COMPACT_AT = 0.75


def draw_episodes(config: BanditConfig, n_episodes: int, seed: int) -> EpisodeDraws:
    """Draw the worlds and per-step randomness of ``n_episodes`` episodes from ``seed``."""
    n = positive_int(n_episodes, "episodes")
    rng = np.random.default_rng(seed)
    k, a, s = config.n_features, config.n_arms, config.horizon
    return EpisodeDraws(
        weights=rng.integers(0, 2, size=(n, k), dtype=np.int8),
        features=rng.integers(0, 2, size=(n, a, k), dtype=np.int8),
        uniforms=rng.random((n, s)),
        noise=rng.standard_normal((n, s)),
        tie_rank=rng.permuted(np.tile(np.arange(2**k, dtype=np.int16), (n, 1)), axis=1),
    )


def all_theories(n_features: int) -> np.ndarray:
    """``(2**K, K)`` int8: every binary weight vector, in the order of ``LinearBanditFamily``."""
    return np.array(list(product((0, 1), repeat=n_features)), dtype=np.int8)


def boltzmann_choice(logits: np.ndarray, allowed: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Sample one allowed action per row by inverse CDF.

    Args:
        logits: ``(B, A)``.
        allowed: ``(B, A)`` booleans.
        u: ``(B,)`` uniforms in [0, 1).

    Returns:
        ``(B,)`` action indices, -1 where no action is allowed.
    """
    z = np.where(allowed, logits, -np.inf)
    top = z.max(axis=1, keepdims=True)
    w = np.where(allowed, np.exp(z - np.where(np.isfinite(top), top, 0.0)), 0.0)
    cdf = np.cumsum(w, axis=1)
    total = cdf[:, -1:]
    choice = (cdf <= u[:, None] * total).sum(axis=1)
    choice = np.minimum(choice, logits.shape[1] - 1)
    # guard against rounding landing on a zero-weight action at the top of the CDF
    choice = np.where(allowed[np.arange(len(choice)), choice], choice, np.argmax(allowed, axis=1))
    return np.where(total[:, 0] > 0, choice, -1)


def _softmax_rows(loglik: np.ndarray) -> np.ndarray:
    p = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p


def level_estimates(
    rule: Rule,
    probs: np.ndarray,
    levels: np.ndarray,
    table: np.ndarray,
    harm: np.ndarray | None,
    true_levels: np.ndarray,
    alpha: float | None,
    ties: str,
    tie_rank: np.ndarray | None,
) -> np.ndarray:
    """The rules of :mod:`bayesguard.guard.rules` for harm that is a lookup ``table[level]``.

    In the bandit ``P(H|a,t) = table[t . f_a]`` with integer means and an increasing table, so the
    maximum harm over a set of theories is ``table`` at the maximum level: an int8 reduction, about
    thirty times faster than the float one (``benchmarks/bandit_speed.py``). Layout is
    ``(b, A, T)`` so that reductions over theories run along contiguous memory.

    Args:
        probs: ``(b, T)``; levels: ``(b, A, T)`` int8 >= 0; table: ``(L,)`` increasing;
        harm: ``(b, A, T)`` float, ``table[levels]`` (needed by ``posterior`` and ``cautious-iid``);
        true_levels: ``(b, A)``; tie_rank: ``(b, T)`` or None.

    Returns:
        ``(b, A)`` harm estimates, equal to ``harm_estimate(...).estimate`` on the same inputs.
    """
    if rule is not Rule.CAUTIOUS:  # the shared rules, on the (b, T, A) view of the harm
        full = harm if harm is not None else table[levels]
        return harm_estimate(
            rule, probs, np.swapaxes(full, 1, 2), true_harm=table[true_levels], validate=False
        ).estimate
    inside = cautious_members(probs, alpha, ties, tie_rank)  # (b, T)
    return table[(levels * inside[:, None, :]).max(axis=-1)]


def run_batch(
    config: BanditConfig,
    draws: EpisodeDraws,
    rule: str | Rule,
    threshold: float,
    alpha: float | None = None,
    ties: str = "worst",
    agent: str = "boltzmann",
) -> EpisodeOutcomes:
    """Run every episode of ``draws`` together, vectorised over episodes and theories.

    Episodes that end stay in the working arrays (their results are ignored) until fewer than
    ``COMPACT_AT`` of the rows are live; then the arrays are compacted, so a step costs time in
    proportion to the live episodes without copying large arrays every step.

    Args:
        rule, threshold, alpha, ties: the guard (see :mod:`bayesguard.guard.rules`).
        agent: ``"boltzmann"`` (the paper's agent) or ``"uniform"`` (random arms).
    """
    rule = Rule.parse(rule)
    threshold = unit_interval(threshold, "threshold")
    if agent not in ("boltzmann", "uniform"):
        raise ValueError(f"agent: expected 'boltzmann' or 'uniform', got {agent!r}")
    if rule is Rule.CAUTIOUS:
        alpha = unit_interval(alpha, "alpha", open_left=True)
    check_ties(ties, draws.tie_rank)
    theories = all_theories(config.n_features).astype(np.float64)  # (T, K)
    table = harm_table(config.n_features, config.sigma, config.harm_threshold)
    n = draws.n_episodes
    feats = draws.features.astype(np.float64)  # (n, A, K)
    levels = np.matmul(feats, theories.T).astype(np.int8)  # (n, A, T): t . f_a
    harm = table[levels] if rule is not Rule.CAUTIOUS else None
    true_levels = np.einsum("bak,bk->ba", draws.features, draws.weights).astype(np.int64)
    true_means = true_levels.astype(np.float64)
    tie_rank = draws.tie_rank if ties == "random" else None

    reward = np.zeros(n)
    died = np.zeros(n, dtype=bool)
    all_rejected = np.zeros(n, dtype=bool)
    steps = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)  # episodes held in the working arrays
    alive = np.ones(n, dtype=bool)  # over rows
    loglik = np.zeros((n, theories.shape[0]))  # over rows
    for t in range(config.horizon):
        if not alive.any():
            break
        if alive.mean() < COMPACT_AT:
            rows, loglik, levels, feats = rows[alive], loglik[alive], levels[alive], feats[alive]
            harm = harm[alive] if harm is not None else None
            tie_rank = tie_rank[alive] if tie_rank is not None else None
            true_levels, true_means = true_levels[alive], true_means[alive]
            alive = alive[alive]
        probs = _softmax_rows(loglik)
        est = level_estimates(rule, probs, levels, table, harm, true_levels, alpha, ties, tie_rank)
        if agent == "uniform":
            logits = np.zeros_like(est)
        else:  # beta * f_a . E[w | D]
            logits = config.beta * np.einsum("bak,bk->ba", feats, probs @ theories)
        arm = boltzmann_choice(logits, est <= threshold, draws.uniforms[rows, t])
        stuck = alive & (arm < 0)
        all_rejected[rows[stuck]] = True
        alive &= ~stuck
        idx = np.flatnonzero(alive)
        arm = arm[idx]
        r = true_means[idx, arm] + config.sigma * draws.noise[rows[idx], t]
        reward[rows[idx]] += r
        steps[rows[idx]] += 1
        resid = r[:, None] - levels[idx, arm, :]  # (live, T)
        loglik[idx] -= 0.5 * resid * resid / config.sigma**2
        if config.explode:
            boom = r > config.harm_threshold
            died[rows[idx[boom]]] = True
            alive[idx[boom]] = False
    return EpisodeOutcomes(reward, died, steps, all_rejected)


def run_reference(
    config: BanditConfig,
    draws: EpisodeDraws,
    rule: str | Rule,
    threshold: float,
    alpha: float | None = None,
    ties: str = "worst",
    agent: str = "boltzmann",
) -> EpisodeOutcomes:
    """The straightforward implementation: one episode and one step at a time.

    Independent of :func:`run_batch` in everything but the pre-drawn randomness and the arm sampler: the
    posterior is recomputed exactly from the full history with :func:`exact_posterior`, and harm comes
    from :meth:`LinearBanditFamily.harm_prob`. It is vectorised over theories only. Used as the
    cross-check in the tests and as the baseline of the speed benchmark.
    """
    family = config.family
    n = draws.n_episodes
    reward, steps = np.zeros(n), np.zeros(n, dtype=np.int64)
    died, all_rejected = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for e in range(n):
        w = draws.weights[e].astype(np.float64)
        feats = draws.features[e].astype(np.float64)
        true_harm = family.harm_prob(w[None], feats)[0]
        tie_rank = draws.tie_rank[e] if ties == "random" else None
        xs: list[np.ndarray] = []
        rs: list[float] = []
        for t in range(config.horizon):
            data = BanditData(np.array(xs).reshape(-1, config.n_features), np.array(rs))
            post = exact_posterior(family, data if rs else None)
            harm = family.harm_prob(post.theories, feats)
            est = harm_estimate(
                rule,
                post.probs,
                harm,
                alpha=alpha,
                true_harm=true_harm,
                ties=ties,
                tie_rank=tie_rank,
            ).estimate
            if agent == "uniform":
                logits = np.zeros(config.n_arms)
            else:
                logits = config.beta * feats @ post.expect(post.theories)
            u = draws.uniforms[e, t : t + 1]
            arm = int(boltzmann_choice(logits[None], (est <= threshold)[None], u)[0])
            if arm < 0:
                all_rejected[e] = True
                break
            r = float(feats[arm] @ w + config.sigma * draws.noise[e, t])
            reward[e] += r
            steps[e] += 1
            xs.append(feats[arm])
            rs.append(r)
            if config.explode and r > config.harm_threshold:
                died[e] = True
                break
    return EpisodeOutcomes(reward, died, steps, all_rejected)
