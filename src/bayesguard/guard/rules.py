"""Guardrail rules: turn posterior weights and per-theory harm probabilities into one harm estimate.

Each rule is a pure function batched over any leading axes ``...`` (episodes, contexts):

- ``probs``: ``(..., n_theories)`` posterior probabilities, summing to 1 over the last axis;
- ``harm``: ``(..., n_theories, n_actions)`` P(harm | action, theory), in [0, 1];
- result: :class:`RuleResult` with ``estimate`` ``(..., n_actions)`` and ``witness`` ``(..., n_actions)``,
  the index of the theory whose prediction the estimate reports (-1 when no single theory does).

The guard rejects action ``a`` when ``estimate[a] > C``.

Rules (Bengio et al., "Can a Bayesian Oracle Prevent Harm from an Agent?", UAI 2025):

``posterior``
    the posterior-predictive harm ``sum_t p(t|D) P(H|a,t)``.
``cautious-iid``
    ``P(H|a, t_hat)`` with ``t_hat = argmax_t p(t|D) P(H|a,t)``; ties go to the largest harm.
``cautious``
    sort the posterior descending, ``p(1) >= p(2) >= ...``; theory ``j`` is in ``M_alpha`` when
    ``p(j) >= alpha * (p(1) + ... + p(j))``; the estimate is ``max_{t in M_alpha} P(H|a,t)``.
    Because ``p(j) / (p(1)+...+p(j))`` decreases in ``j``, ``M_alpha`` is the top-``k`` prefix of the
    sorted posterior, and ``k`` depends only on the sorted values. Which of several theories *tied* in
    probability at the boundary fill the last places is a choice, set by ``ties``:

    - ``"worst"`` (default): the tied theories with the largest harm come first, so the estimate is the
      maximum harm over every theory whose probability is at least ``p(k)``. It does not depend on the
      order in which theories are listed, and it is the most cautious reading of the definition.
    - ``"order"``: tied theories are taken in the order in which the family lists them, exactly what a
      stable sort of the negated posterior followed by a prefix of length ``k`` gives (and what the
      paper's code does).
    - ``"random"``: tied theories are taken in increasing ``tie_rank``, distinct integers per row (a
      random permutation gives an unbiased random tie-break). ``tie_rank`` may have any integer dtype.

    ``alpha = 1`` keeps the most probable theory only; ``alpha -> 0`` keeps every theory with non-zero
    mass.

    Guarantee (non-i.i.d. data; Bengio et al. 2025): let ``t*`` be the true theory, with prior mass
    ``p(t*)``. The ratio ``p(D_t) / p(D_t | t*)`` is a non-negative martingale under ``t*`` that starts
    at 1, so by Ville's inequality ``p(t* | D_t) >= alpha`` at every step ``t`` with probability at least
    ``1 - alpha / p(t*)``. Any theory with ``p(j) >= alpha`` satisfies ``p(j) >= alpha * (p(1)+...+p(j))``,
    so it is in ``M_alpha`` whichever way ties are filled. Hence, with that probability, the cautious
    estimate is at least the true harm probability at every step. The bound is vacuous when
    ``alpha >= p(t*)``.
``oracle``
    the true theory's harm probability (evaluation only: needs ``true_harm``).
``none``
    estimate 0: never rejects.

**The three-way decision** (:func:`decide`, used by every guard). With the rule's bound ``b``, the
posterior-predictive harm ``m`` and the smallest and largest harm among the plausible theories
(``M_alpha``), for each action:

- **ALLOW** when ``b <= C``;
- **REJECT** when ``m > C``: the posterior as a whole predicts harm;
- **ASK** when the plausible theories disagree, ``min <= C < max``: some plausible theory says the
  action is safe and another says it is not, so a person (or an experiment) should settle it;
- **REJECT** otherwise (the theories agree, but the bound does not clear ``C``, e.g. Monte Carlo error).

Turning ASK off (``ask=False``) makes every ASK a REJECT; ALLOW never changes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import numpy as np

from .._validate import parse_option, probabilities, unit_interval

#: Relative slack in the ``M_alpha`` membership test, in the direction of a larger (more cautious) set,
#: so that exact ties such as ``alpha = 1/100`` on a uniform posterior of 1024 theories do not depend on
#: the rounding of a cumulative sum.
MEMBERSHIP_RTOL = 1e-12


class Rule(StrEnum):
    """The guardrail rules; ``Rule("cautious")`` and ``Rule.CAUTIOUS`` are the same."""

    NONE = "none"
    ORACLE = "oracle"
    POSTERIOR = "posterior"
    CAUTIOUS_IID = "cautious-iid"
    CAUTIOUS = "cautious"

    @classmethod
    def parse(cls, value: str | Rule) -> Rule:
        """Return the rule named by ``value``, with an error listing the valid names."""
        return parse_option(cls, value, "rule", "rule")


class Decisions(NamedTuple):
    """Output of :func:`decide`: ``decision`` ``(...)`` of :class:`Decision` values (as ``str``) and
    ``why`` ``(...)`` codes: ``"below"`` (ALLOW), ``"posterior"`` (REJECT, the posterior predicts harm),
    ``"disagree"`` (ASK), ``"uncertain"`` (REJECT, the bound alone is in the way)."""

    decision: np.ndarray
    why: np.ndarray


def decide(
    bound: np.ndarray,
    threshold: float,
    *,
    posterior: np.ndarray | None = None,
    member_low: np.ndarray | None = None,
    member_high: np.ndarray | None = None,
    ask: bool = True,
) -> Decisions:
    """ALLOW / REJECT / ASK for each action (see the module docstring).

    Args:
        bound: ``(...)`` the rule's harm estimate or upper bound.
        threshold: ``C``.
        posterior: ``(...)`` posterior-predictive harm (None: unknown, never the reason for a REJECT).
        member_low, member_high: ``(...)`` smallest and largest harm over the plausible theories (None:
            no plausible set, so no ASK).
        ask: False turns every ASK into a REJECT.
    """
    b = np.asarray(bound, dtype=np.float64)
    allow = b <= threshold  # NaN compares False: never ALLOW
    sure = np.zeros(b.shape, bool) if posterior is None else np.asarray(posterior) > threshold
    if member_low is None or member_high is None or not ask:
        split = np.zeros(b.shape, bool)
    else:
        split = (np.asarray(member_low) <= threshold) & (np.asarray(member_high) > threshold)
    why = np.where(allow, "below", np.where(sure, "posterior", np.where(split, "disagree", "uncertain")))
    decision = np.where(allow, "ALLOW", np.where(~sure & split, "ASK", "REJECT"))
    return Decisions(decision, why)


class RuleResult(NamedTuple):
    """Output of a rule: ``estimate`` and ``witness``, both ``(..., n_actions)``."""

    estimate: np.ndarray
    witness: np.ndarray


def posterior_rule(probs: np.ndarray, harm: np.ndarray) -> RuleResult:
    """Posterior-predictive harm; the witness is the theory contributing most, argmax p*H."""
    estimate = np.matmul(probs[..., None, :], harm)[..., 0, :]
    witness = np.argmax(probs[..., :, None] * harm, axis=-2)
    return RuleResult(estimate, witness)


def cautious_iid_rule(probs: np.ndarray, harm: np.ndarray) -> RuleResult:
    """Harm of ``argmax_t p(t) P(H|a,t)``; ties go to the largest harm."""
    score = probs[..., :, None] * harm  # (..., n_theories, n_actions)
    best = score.max(axis=-2, keepdims=True)
    tied_harm = np.where(score == best, harm, -1.0)
    witness = np.argmax(tied_harm, axis=-2)
    estimate = np.take_along_axis(harm, witness[..., None, :], axis=-2)[..., 0, :]
    return RuleResult(estimate, witness)


def _sorted_prefix(probs: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior sorted descending ``(..., n_theories)`` and ``k = |M_alpha|`` ``(...)``, k >= 1."""
    ordered = -np.sort(-probs, axis=-1)
    mass = np.cumsum(ordered, axis=-1)
    member = ordered >= alpha * mass * (1.0 - MEMBERSHIP_RTOL)
    return ordered, np.maximum(member.sum(axis=-1), 1)


def cautious_set_size(probs: np.ndarray, alpha: float) -> np.ndarray:
    """``|M_alpha|``: the number of sorted theories ``j`` with ``p(j) >= alpha * (p(1)+...+p(j))``.

    Args:
        probs: ``(..., n_theories)``.
        alpha: in (0, 1].

    Returns:
        ``(...)`` integer set sizes, each at least 1.
    """
    return _sorted_prefix(probs, alpha)[1]


def cautious_cutoff(probs: np.ndarray, alpha: float) -> np.ndarray:
    """The smallest probability in ``M_alpha``, ``p(k)`` with ``k = |M_alpha|``: ``(...)``."""
    ordered, k = _sorted_prefix(probs, alpha)
    return np.take_along_axis(ordered, (k - 1)[..., None], axis=-1)[..., 0]


TIES = ("worst", "order", "random")


def check_ties(ties: str, tie_rank: np.ndarray | None = None) -> str:
    """Validate a tie mode (and that ``"random"`` comes with its ``tie_rank``); returns it."""
    if ties not in TIES:
        raise ValueError(f"ties: expected one of {TIES}, got {ties!r}")
    if ties == "random" and tie_rank is None:
        raise ValueError("tie_rank: ties='random' needs a (..., n_theories) array of distinct integer ranks")
    return ties


def cautious_members(
    probs: np.ndarray, alpha: float, ties: str = "order", tie_rank: np.ndarray | None = None
) -> np.ndarray:
    """Boolean ``(..., n_theories)`` membership of ``M_alpha``.

    With ``ties="order"`` or ``"random"`` exactly ``k = |M_alpha|`` theories are members; theories tied
    with the last member fill the remaining places in list order (``"order"``) or in increasing
    ``tie_rank`` (``"random"``: ``(..., n_theories)`` distinct integers of any integer dtype). With
    ``ties="worst"`` every theory tied with the last member is included (the set whose maximum harm the
    ``"worst"`` estimate reports).
    """
    check_ties(ties, tie_rank)
    ordered, k = _sorted_prefix(probs, alpha)
    cut = np.take_along_axis(ordered, (k - 1)[..., None], axis=-1)
    if ties == "worst":
        return probs >= cut
    above = probs > cut
    tied = probs == cut
    room = k[..., None] - above.sum(axis=-1, keepdims=True)  # places left for tied theories, >= 1
    if ties == "order":
        return above | (tied & (np.cumsum(tied, axis=-1) <= room))
    rank = np.asarray(tie_rank)
    if rank.shape != probs.shape or rank.dtype.kind not in "iu":
        raise ValueError(
            f"tie_rank: expected integers of shape {probs.shape}, got {rank.dtype} of shape {rank.shape}"
        )
    rank = rank.astype(np.int64)  # a narrow dtype would wrap the sentinel below (NumPy 2 promotion)
    masked = np.where(tied, rank, np.iinfo(np.int64).max)
    last = np.take_along_axis(np.sort(masked, axis=-1), room - 1, axis=-1)
    return above | (tied & (rank <= last))


def cautious_rule(
    probs: np.ndarray,
    harm: np.ndarray,
    alpha: float,
    ties: str = "worst",
    tie_rank: np.ndarray | None = None,
) -> RuleResult:
    """``max`` of ``P(H|a,t)`` over ``M_alpha``; the witness is the theory attaining it."""
    inside = cautious_members(probs, alpha, ties, tie_rank)
    masked = np.where(inside[..., :, None], harm, -1.0)
    witness = np.argmax(masked, axis=-2)
    estimate = np.take_along_axis(harm, witness[..., None, :], axis=-2)[..., 0, :]
    return RuleResult(estimate, witness)


def harm_estimate(
    rule: str | Rule,
    probs: np.ndarray,
    harm: np.ndarray,
    *,
    alpha: float | None = None,
    true_harm: np.ndarray | None = None,
    ties: str = "worst",
    tie_rank: np.ndarray | None = None,
    validate: bool = True,
) -> RuleResult:
    """Apply ``rule`` to posterior ``probs`` ``(..., n_theories)`` and ``harm`` ``(..., n_theories,
    n_actions)``.

    Args:
        rule: a :class:`Rule` or its name.
        alpha: required for ``cautious``, in (0, 1].
        true_harm: ``(..., n_actions)``, required for ``oracle``.
        ties: how ``cautious`` fills the last places of ``M_alpha`` among tied theories,
            ``"worst"``, ``"order"`` or ``"random"`` (see the module docstring).
        tie_rank: with ``ties="random"``, ``(..., n_theories)`` distinct integers giving the order in
            which tied theories are taken.
        validate: check shapes and ranges (the batched experiments turn this off after checking once).

    Returns:
        :class:`RuleResult` with ``estimate`` and ``witness`` of shape ``(..., n_actions)``.
    """
    rule = Rule.parse(rule)
    if validate:
        probs = probabilities(probs, "probs")
        harm = probabilities(harm, "harm")
        if probs.ndim < 1 or harm.shape[:-1] != probs.shape:
            raise ValueError(
                f"harm: expected shape {probs.shape + ('n_actions',)} to match probs "
                f"(..., n_theories) = {probs.shape}, got {harm.shape}"
            )
        if not np.allclose(probs.sum(axis=-1), 1.0, atol=1e-6):
            raise ValueError("probs: posterior probabilities must sum to 1 over the last axis")
    batch_actions = harm.shape[:-2] + harm.shape[-1:]
    if rule is Rule.NONE:
        return RuleResult(np.zeros(batch_actions), np.full(batch_actions, -1))
    if rule is Rule.ORACLE:
        if true_harm is None:
            raise ValueError("true_harm: the oracle rule needs the true theory's harm probabilities")
        th = probabilities(true_harm, "true_harm") if validate else true_harm
        if th.shape != batch_actions:
            raise ValueError(f"true_harm: expected shape {batch_actions}, got {th.shape}")
        return RuleResult(th, np.full(batch_actions, -1))
    if rule is Rule.POSTERIOR:
        return posterior_rule(probs, harm)
    if rule is Rule.CAUTIOUS_IID:
        return cautious_iid_rule(probs, harm)
    if alpha is None:
        raise ValueError("alpha: the cautious rule needs alpha in (0, 1]")
    check_ties(ties, tie_rank)
    alpha = unit_interval(alpha, "alpha", open_left=True)
    return cautious_rule(probs, harm, alpha, ties, tie_rank)


#: The rules for acting under reward uncertainty, served from this module too (they live in
#: ``reward_rules.py``, which builds on the cautious set defined here).
_REWARD_NAMES = frozenset(
    {"RewardRule", "RewardRuleConfig", "RewardRuleResult", "apply_reward_rule", "regret_harm", "cvar"}
)


def __getattr__(name: str) -> object:
    if name in _REWARD_NAMES:
        from . import reward_rules

        return getattr(reward_rules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
