"""Active questions: EIG against brute force and Monte Carlo, the baselines, the choice and the pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayesguard.marginal.questions import (
    QueryStrategy,
    Question,
    all_pairs,
    choose_query,
    disagreement,
    expected_information_gain,
    next_question,
    pair_from_rank,
    query_scores,
    sample_pairs,
)


def random_problem(seed, n_theories=5, n_queries=7, n_answers=3, zeros=True):
    rng = np.random.default_rng(seed)
    log_w = rng.normal(scale=2.0, size=n_theories)
    probs = rng.dirichlet(np.full(n_answers, 0.6), size=(n_theories, n_queries))
    if zeros:
        probs[rng.random(probs.shape) < 0.15] = 0.0
        probs[..., 0] += 1e-3
        probs /= probs.sum(axis=-1, keepdims=True)
    return log_w, probs


def brute_eig(log_w, probs):
    """Double loop over theories and answers: sum_t sum_a w_t P(a|t) log(P(a|t) / m(a))."""
    w = np.exp(log_w - np.max(log_w))
    w /= w.sum()
    n_t, n_q, n_a = probs.shape
    out = np.zeros(n_q)
    for q in range(n_q):
        m = [sum(w[t] * probs[t, q, a] for t in range(n_t)) for a in range(n_a)]
        for t in range(n_t):
            for a in range(n_a):
                if w[t] > 0 and probs[t, q, a] > 0:
                    out[q] += w[t] * probs[t, q, a] * np.log(probs[t, q, a] / m[a])
    return out


def test_eig_matches_the_double_loop():
    for seed in range(20):
        log_w, probs = random_problem(seed)
        if seed % 3 == 0:
            log_w[1] = -np.inf
        np.testing.assert_allclose(
            expected_information_gain(log_w, probs), brute_eig(log_w, probs), atol=1e-12
        )


def test_eig_matches_a_monte_carlo_plug_in_estimate():
    log_w, probs = random_problem(100, n_theories=4, n_queries=3, n_answers=3)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    rng = np.random.default_rng(0)
    n = 200_000
    theory = rng.choice(4, size=n, p=w)
    cdf = np.cumsum(probs[theory], axis=-1)  # (n, n_queries, n_answers)
    answer = (cdf < rng.random((n, 3, 1))).sum(axis=-1).clip(max=2)
    eig = expected_information_gain(log_w, probs)
    for q in range(3):
        joint = np.zeros((4, 3))
        np.add.at(joint, (theory, answer[:, q]), 1.0)
        joint /= n
        with np.errstate(divide="ignore"):  # unobserved cells are never looked up
            ratio = np.log(joint / (joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)))
        pointwise = ratio[theory, answer[:, q]]
        estimate = pointwise.mean()
        se = pointwise.std() / np.sqrt(n)
        bias = (4 - 1) * (3 - 1) / (2 * n)  # the plug-in estimator's first-order upward bias
        assert abs(estimate - eig[q]) <= 5 * se + bias


def test_eig_is_zero_when_the_answer_cannot_separate_theories():
    log_w, probs = random_problem(1)
    agree = np.broadcast_to(probs[:1], probs.shape)  # every theory predicts the same answers
    np.testing.assert_allclose(expected_information_gain(log_w, agree), 0.0, atol=1e-12)
    point = np.full(5, -np.inf)
    point[3] = 0.0  # one theory holds all the mass
    np.testing.assert_allclose(expected_information_gain(point, probs), 0.0, atol=1e-12)


def test_eig_bounds_and_a_known_value():
    for seed in range(20):
        log_w, probs = random_problem(seed, n_answers=2 + seed % 3)
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        entropy = -np.sum(w[w > 0] * np.log(w[w > 0]))
        eig = expected_information_gain(log_w, probs)
        assert np.all(eig >= 0)
        assert np.all(eig <= np.log(probs.shape[-1]) + 1e-12)
        assert np.all(eig <= entropy + 1e-12)
        np.testing.assert_allclose(expected_information_gain(log_w + 7.0, probs), eig, atol=1e-12)
    # two equally likely theories giving opposite sure answers: the answer reveals the theory, log 2 nats
    sure = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(expected_information_gain([0.0, 0.0], sure), [np.log(2)])


def test_validation_errors():
    log_w, probs = random_problem(2)
    with pytest.raises(ValueError, match="answer_probs: expected shape"):
        expected_information_gain(log_w[:-1], probs)
    with pytest.raises(ValueError, match="answer_probs: each"):
        expected_information_gain(log_w, 0.5 * probs)
    with pytest.raises(ValueError, match="log_weights"):
        expected_information_gain(np.full(5, -np.inf), probs)
    with pytest.raises(ValueError, match="strategy: unknown query strategy"):
        choose_query("best", log_w, probs)
    with pytest.raises(ValueError, match="pairs"):
        next_question("eig", log_w, probs, all_pairs(3))


def brute_disagreement(log_w, probs):
    w = np.exp(log_w - np.max(log_w))
    w /= w.sum()
    out = []
    for q in range(probs.shape[1]):
        votes = [int(np.argmax(probs[t, q])) for t in range(len(w))]
        tally = [sum(w[t] for t in range(len(w)) if votes[t] == a) for a in range(probs.shape[2])]
        majority = int(np.argmax(tally))
        out.append(sum(w[t] for t in range(len(w)) if votes[t] != majority))
    return np.array(out)


def test_disagreement_matches_the_definition():
    for seed in range(10):
        log_w, probs = random_problem(seed)
        np.testing.assert_allclose(disagreement(log_w, probs), brute_disagreement(log_w, probs), atol=1e-12)
    log_w, probs = random_problem(3)
    np.testing.assert_allclose(disagreement(log_w, np.broadcast_to(probs[:1], probs.shape)), 0.0)


@pytest.mark.parametrize("strategy", ["eig", QueryStrategy.DISAGREEMENT])
def test_choose_query_picks_the_argmax(strategy):
    reference = {"eig": brute_eig, "disagreement": brute_disagreement}[QueryStrategy.parse(strategy).value]
    for seed in range(10):
        log_w, probs = random_problem(seed, n_queries=9)
        index, scores = choose_query(strategy, log_w, probs, rng=seed)
        ref = reference(log_w, probs)
        np.testing.assert_allclose(scores, ref, atol=1e-12)
        assert ref[index] == pytest.approx(ref.max(), abs=1e-12)


def test_ties_are_broken_uniformly_and_random_is_uniform():
    log_w, probs = random_problem(4, n_queries=6)
    best = int(np.argmax(expected_information_gain(log_w, probs)))
    tied = np.concatenate([probs, probs[:, best : best + 1]], axis=1)  # query 6 duplicates the best
    rng = np.random.default_rng(0)
    n = 4000
    picks = np.array([choose_query("eig", log_w, tied, rng)[0] for _ in range(n)])
    assert set(np.unique(picks)) == {best, 6}
    assert abs((picks == 6).mean() - 0.5) <= 5 * np.sqrt(0.25 / n)
    picks = np.array([choose_query("random", log_w, tied, rng)[0] for _ in range(n)])
    freq = np.bincount(picks, minlength=7) / n
    assert np.all(np.abs(freq - 1 / 7) <= 5 * np.sqrt((1 / 7) * (6 / 7) / n))
    np.testing.assert_array_equal(query_scores("random", log_w, tied), np.zeros(7))


def test_all_pairs_and_pair_ranks():
    for n in (2, 3, 7, 30):
        pairs = all_pairs(n)
        assert pairs.shape == (n * (n - 1) // 2, 2)
        assert np.all(pairs[:, 0] < pairs[:, 1])
        assert len({tuple(p) for p in pairs}) == len(pairs)
        np.testing.assert_array_equal(pair_from_rank(np.arange(len(pairs)), n), pairs)
    n = 3_000_000  # 4.5e12 pairs: ranks near both ends decode exactly
    total = n * (n - 1) // 2
    ends = pair_from_rank(np.array([0, 1, n - 2, n - 1, total - 2, total - 1]), n)
    np.testing.assert_array_equal(ends, [[0, 1], [0, 2], [0, n - 1], [1, 2], [n - 3, n - 1], [n - 2, n - 1]])


def test_sample_pairs_distinct_uniform_and_large():
    rng = np.random.default_rng(0)
    pairs = all_pairs(6)
    counts = np.zeros(len(pairs))
    reps = 3000
    for _ in range(reps):
        s = sample_pairs(6, 4, rng)
        assert len({tuple(p) for p in s}) == 4 and np.all(s[:, 0] < s[:, 1])
        counts += (s[:, None, :] == pairs[None]).all(-1).sum(0)
    p = 4 / len(pairs)  # each pair is in a sample with probability 4/15
    assert np.all(np.abs(counts / reps - p) <= 5 * np.sqrt(p * (1 - p) / reps))
    np.testing.assert_array_equal(sample_pairs(6, 100, rng), pairs)
    big = sample_pairs(10**6, 50, rng)
    assert big.shape == (50, 2) and np.all((big[:, 0] < big[:, 1]) & (big[:, 1] < 10**6))


def test_next_question_carries_the_pair_and_its_eig():
    rng = np.random.default_rng(1)
    n_items = 5
    pairs = all_pairs(n_items)
    log_w, probs = random_problem(5, n_queries=len(pairs), n_answers=3)
    features = rng.normal(size=(n_items, 2))
    names = [f"plan {i}" for i in range(n_items)]
    qn = next_question("eig", log_w, probs, pairs, rng, descriptions=names, features=features)
    eig = brute_eig(log_w, probs)
    assert qn.index == int(np.argmax(eig))
    assert qn.options == tuple(int(x) for x in pairs[qn.index])
    assert qn.eig == pytest.approx(eig[qn.index], abs=1e-12) and qn.score == qn.eig
    assert qn.descriptions == (names[qn.options[0]], names[qn.options[1]])
    np.testing.assert_allclose(qn.features, features[list(qn.options)])
    assert "plan" in str(qn) and "nats" in str(qn)
    assert Question(**json.loads(json.dumps(qn.to_dict()))) == qn
    other = next_question("random", log_w, probs, pairs, rng)
    assert other.strategy == "random" and other.eig == pytest.approx(eig[other.index], abs=1e-12)
    with pytest.raises(ValueError, match="strategy"):
        Question(0, strategy="best")
