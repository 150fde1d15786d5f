"""Which question to put to a human next: expected information gain, disagreement, or random.

A **query** is anything whose answer the theories predict: a pair of options to compare ("which do you
prefer?", with possibly an "equal" answer), a demonstration request, a yes/no check. The theories'
predictions are ``answer_probs`` ``(n_theories, n_queries, n_answers)``: ``P(answer | theory, query)``,
rows summing to 1 (queries with fewer answers pad with zeros). The posterior is ``log_weights``
``(n_theories,)`` (any normalisation; ``-inf`` is zero weight).

Scores (larger is a better question):

``eig``
    the mutual information ``I(A; T | q) = H(sum_t p_t P(.|t,q)) - sum_t p_t H(P(.|t,q))`` in nats: the
    expected drop in the posterior entropy of the theory after hearing the answer. It is 0 exactly when
    every theory with weight predicts the same answer distribution, and at most
    ``min(log n_answers, H(p))``.
``disagreement``
    query-by-committee vote disagreement: each theory votes for its most probable answer (lowest answer
    index on ties); the score is the posterior mass of the theories whose vote differs from the weighted
    majority vote (the answer with the most mass; lowest index on ties). It ignores how noisy each
    theory's answer is, which is what the EIG weighs and this baseline does not.
``random``
    every query scores 0, so the random tie-break makes the choice uniform over the queries.

:func:`choose_query` returns the best query, ties (scores within a relative ``1e-12`` of the best)
broken uniformly at random with ``rng``. :class:`Question` is the record an ASK verdict carries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.special import logsumexp

from .._validate import as_float_array, parse_option, positive_int, probabilities
from .information import categorical_entropy

#: Scores within this relative distance of the best count as tied in :func:`choose_query`.
TIE_RTOL = 1e-12


class QueryStrategy(StrEnum):
    """How to pick the next query; ``QueryStrategy("eig")`` and ``QueryStrategy.EIG`` are the same."""

    EIG = "eig"
    DISAGREEMENT = "disagreement"
    RANDOM = "random"

    @classmethod
    def parse(cls, value: str | QueryStrategy) -> QueryStrategy:
        """Return the strategy named by ``value``, with an error listing the valid names."""
        return parse_option(cls, value, "strategy", "query strategy")


def posterior_probs(log_weights: object) -> np.ndarray:
    """Normalised weights ``(n_theories,)`` from log-weights (``-inf`` allowed, not all of them)."""
    try:
        lw = np.asarray(log_weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"log_weights: expected an array of numbers, got {type(log_weights).__name__}"
        ) from exc
    if lw.ndim != 1 or lw.size == 0:
        raise ValueError(f"log_weights: expected a non-empty 1-d array (n_theories,), got shape {lw.shape}")
    if np.isnan(lw).any() or (lw == np.inf).any() or (lw == -np.inf).all():
        raise ValueError("log_weights: expected finite values or -inf (zero weight), not all -inf, no NaN")
    return np.exp(lw - logsumexp(lw))


def check_answer_probs(answer_probs: object, n_theories: int) -> np.ndarray:
    """Validate ``answer_probs`` ``(n_theories, n_queries, n_answers)`` with rows summing to 1."""
    p = probabilities(answer_probs, "answer_probs", ndim=3)
    if p.shape[0] != n_theories or p.shape[1] < 1 or p.shape[2] < 1:
        raise ValueError(
            f"answer_probs: expected shape ({n_theories}, n_queries, n_answers) to match log_weights, "
            f"got {p.shape}"
        )
    if not np.allclose(p.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("answer_probs: each P(answer | theory, query) must sum to 1 over the answers")
    return p


def expected_information_gain(log_weights: object, answer_probs: object) -> np.ndarray:
    """``I(answer; theory)`` for each query, in nats: ``(n_queries,)``.

    Args:
        log_weights: ``(n_theories,)`` posterior log-weights (any normalisation).
        answer_probs: ``(n_theories, n_queries, n_answers)`` ``P(answer | theory, query)``.

    Returns:
        ``H(sum_t p_t P(.|t,q)) - sum_t p_t H(P(.|t,q))``, clipped at 0 against rounding; zero
        probabilities contribute 0 (``0 log 0 = 0``).
    """
    w = posterior_probs(log_weights)
    p = check_answer_probs(answer_probs, w.size)
    mixture = np.einsum("t,tqa->qa", w, p)  # (n_queries, n_answers) predictive answer distribution
    bits = categorical_entropy(mixture) - w @ categorical_entropy(p)
    return np.maximum(bits * np.log(2.0), 0.0)


def disagreement(log_weights: object, answer_probs: object) -> np.ndarray:
    """Vote disagreement ``(n_queries,)`` in [0, 1): posterior mass of theories whose most probable
    answer differs from the weighted-majority answer (see the module docstring)."""
    w = posterior_probs(log_weights)
    p = check_answer_probs(answer_probs, w.size)
    votes = np.argmax(p, axis=-1)  # (n_theories, n_queries)
    tally = np.einsum("t,tqa->qa", w, votes[..., None] == np.arange(p.shape[2]))
    majority = np.argmax(tally, axis=-1)  # (n_queries,)
    return np.maximum(1.0 - tally[np.arange(p.shape[1]), majority], 0.0)


def query_scores(strategy: str | QueryStrategy, log_weights: object, answer_probs: object) -> np.ndarray:
    """The strategy's score of each query ``(n_queries,)`` (larger is better; ``random``: zeros)."""
    strategy = QueryStrategy.parse(strategy)
    if strategy is QueryStrategy.EIG:
        return expected_information_gain(log_weights, answer_probs)
    if strategy is QueryStrategy.DISAGREEMENT:
        return disagreement(log_weights, answer_probs)
    w = posterior_probs(log_weights)
    return np.zeros(check_answer_probs(answer_probs, w.size).shape[1])


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator | int | None = None) -> int:
    """Index of the largest score, uniformly at random among those within ``TIE_RTOL`` of it."""
    rng = np.random.default_rng(rng)
    s = as_float_array(scores, "scores", ndim=1)
    if s.size == 0:
        raise ValueError("scores: expected at least one query")
    best = s.max()
    tied = np.flatnonzero(s >= best - TIE_RTOL * max(1.0, abs(best)))
    return int(tied[rng.integers(tied.size)])


def choose_query(
    strategy: str | QueryStrategy,
    log_weights: object,
    answer_probs: object,
    rng: np.random.Generator | int | None = None,
) -> tuple[int, np.ndarray]:
    """Pick the next query: ``(index, scores)`` with ``scores`` ``(n_queries,)`` from :func:`query_scores`
    and ``index`` its argmax (ties broken uniformly at random with ``rng``)."""
    scores = query_scores(strategy, log_weights, answer_probs)
    return argmax_random_ties(scores, rng), scores


def all_pairs(n_items: int) -> np.ndarray:
    """Every unordered pair ``(i, j)`` with ``i < j``, lexicographic: ``(n_items (n_items-1) / 2, 2)``."""
    n = positive_int(n_items, "n_items", minimum=2)
    i, j = np.triu_indices(n, k=1)
    return np.stack([i, j], axis=1)


def pair_from_rank(rank: np.ndarray, n_items: int) -> np.ndarray:
    """The pairs at positions ``rank`` ``(m,)`` of :func:`all_pairs` ``(n_items)``, without building it:
    ``(m, 2)``."""
    k = np.asarray(rank, dtype=np.int64)
    n = int(n_items)
    # row i starts at s(i) = i*n - i*(i+1)/2; invert by the quadratic formula, then fix rounding exactly
    i = np.floor((2 * n - 1 - np.sqrt((2.0 * n - 1) ** 2 - 8.0 * k)) / 2).astype(np.int64)
    i = np.clip(i, 0, n - 2)

    def start(row: np.ndarray) -> np.ndarray:
        return row * n - row * (row + 1) // 2

    i = np.where(start(i) > k, i - 1, i)
    i = np.where(start(i + 1) <= k, i + 1, i)
    j = k - start(i) + i + 1
    return np.stack([i, j], axis=1)


def sample_pairs(n_items: int, n_pairs: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n_pairs`` distinct unordered pairs ``(i < j)`` drawn uniformly without replacement: ``(n_pairs,
    2)``, in lexicographic order. Works for pools too large to list every pair; asking for at least all
    of them returns :func:`all_pairs`."""
    n = positive_int(n_items, "n_items", minimum=2)
    m = positive_int(n_pairs, "n_pairs")
    total = n * (n - 1) // 2
    if m >= total:
        return all_pairs(n)
    rng = np.random.default_rng(rng)
    ranks = np.sort(rng.choice(total, size=m, replace=False))
    return pair_from_rank(ranks, n)


@dataclass(frozen=True)
class Question:
    """A question to put to a human, as an ASK verdict carries it.

    Attributes:
        index: the query's index among the candidates scored.
        options: the two items compared (indices into the pool), or ``()`` for another kind of query.
        descriptions: how each option reads to a person.
        features: each option's feature vector (plain floats), or ``()``.
        eig: expected information gain of the answer about the theory, in nats.
        strategy: the strategy that chose it.
        score: its score under that strategy.
    """

    index: int
    options: tuple[int, ...] = ()
    descriptions: tuple[str, ...] = ()
    features: tuple[tuple[float, ...], ...] = ()
    eig: float = float("nan")
    strategy: str = QueryStrategy.EIG.value
    score: float = float("nan")

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "options", tuple(int(o) for o in self.options))
        object.__setattr__(self, "descriptions", tuple(str(d) for d in self.descriptions))
        feats = tuple(tuple(float(x) for x in np.ravel(f)) for f in self.features)
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "eig", float(self.eig))
        object.__setattr__(self, "strategy", QueryStrategy.parse(self.strategy).value)
        object.__setattr__(self, "score", float(self.score))

    def __str__(self) -> str:
        names = self.descriptions or tuple(f"option {o}" for o in self.options)
        ask = " or ".join(f"({chr(65 + i)}) {d}" for i, d in enumerate(names)) or f"query {self.index}"
        return f"Which do you prefer: {ask}? [expected information gain {self.eig:.3g} nats]"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))


def next_question(
    strategy: str | QueryStrategy,
    log_weights: object,
    answer_probs: object,
    pairs: object,
    rng: np.random.Generator | int | None = None,
    *,
    descriptions: list[str] | tuple[str, ...] | None = None,
    features: object | None = None,
) -> Question:
    """Choose among candidate pairs and return the :class:`Question` to ask.

    Args:
        strategy: ``eig``, ``disagreement`` or ``random``.
        log_weights: ``(n_theories,)``.
        answer_probs: ``(n_theories, n_pairs, n_answers)`` answers to "which of the pair do you prefer".
        pairs: ``(n_pairs, 2)`` item indices of each candidate (e.g. :func:`all_pairs`).
        rng: seed or generator for the tie-break.
        descriptions: ``(n_items,)`` text of each item, or None ("option i").
        features: ``(n_items, n_features)`` features of each item, or None.
    """
    index, scores = choose_query(strategy, log_weights, answer_probs, rng)
    pr = np.asarray(pairs)
    if pr.ndim != 2 or pr.shape != (scores.size, 2) or pr.dtype.kind not in "iu":
        raise ValueError(f"pairs: expected integers of shape ({scores.size}, 2), got {pr.dtype} {pr.shape}")
    a, b = (int(x) for x in pr[index])
    eig = (
        scores[index]
        if strategy == QueryStrategy.EIG
        else expected_information_gain(log_weights, answer_probs)[index]
    )
    desc = () if descriptions is None else (descriptions[a], descriptions[b])
    feats = () if features is None else tuple(as_float_array(features, "features")[[a, b]])
    return Question(index, (a, b), desc, feats, eig, QueryStrategy.parse(strategy).value, scores[index])
