"""Guard rules against hand-computed cut-offs and brute-force implementations of their definitions."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from bayesguard.guard.rules import (
    Rule,
    cautious_cutoff,
    cautious_iid_rule,
    cautious_members,
    cautious_rule,
    cautious_set_size,
    harm_estimate,
    posterior_rule,
)

# Sorted descending: [0.5, 0.2, 0.2, 0.1], cumulative [0.5, 0.7, 0.9, 1.0]; the ratios p(j) / (p(1)+...+p(j))
# are 1, 2/7, 2/9, 1/10, so |M_alpha| drops at alpha = 1/10, 2/9 and 2/7.
P = np.array([0.1, 0.5, 0.2, 0.2])
EPS = 1e-9


def brute_cautious(probs, harm, alpha, rank=None):
    """M_alpha by the definition (no prefix shortcut), then the max harm per action over it."""
    n = len(probs)
    rank = list(range(n)) if rank is None else list(rank)
    order = sorted(range(n), key=lambda i: (-probs[i], rank[i]))
    members, mass = [], 0.0
    for j in order:
        mass += probs[j]
        if probs[j] >= alpha * mass:
            members.append(j)
    return np.array([max(harm[j, a] for j in members) for a in range(harm.shape[1])]), sorted(members)


def brute_cautious_iid(probs, harm):
    out = []
    for a in range(harm.shape[1]):
        best = None
        for t in range(len(probs)):
            key = (probs[t] * harm[t, a], harm[t, a])
            if best is None or key > best:
                best = key
        out.append(best[1])
    return np.array(out)


# ---------------------------------------------------------------------------- hand-computed cut-offs
@pytest.mark.parametrize(
    "alpha, size, cutoff",
    [
        (1e-6, 4, 0.1),
        (0.1 * (1 - EPS), 4, 0.1),
        (0.1, 4, 0.1),  # boundary: p(j) >= alpha * mass is inclusive
        (0.1 * (1 + EPS), 3, 0.2),
        (2 / 9 * (1 - EPS), 3, 0.2),
        (2 / 9, 3, 0.2),
        (2 / 9 * (1 + EPS), 2, 0.2),
        (2 / 7 * (1 - EPS), 2, 0.2),
        (2 / 7, 2, 0.2),
        (2 / 7 * (1 + EPS), 1, 0.5),
        (0.5, 1, 0.5),
        (1.0, 1, 0.5),
    ],
)
def test_set_size_changes_exactly_at_hand_computed_alphas(alpha, size, cutoff):
    assert int(cautious_set_size(P, alpha)) == size
    assert float(cautious_cutoff(P, alpha)) == pytest.approx(cutoff)
    order = cautious_members(P, alpha, ties="order")
    assert order.sum() == size


@pytest.mark.parametrize(
    "alpha, order_members, worst_members",
    [
        (0.05, [1, 1, 1, 1], [1, 1, 1, 1]),
        (0.15, [0, 1, 1, 1], [0, 1, 1, 1]),
        # k = 2: only one of the tied 0.2s fits. "order" takes the first listed (index 2); "worst" takes
        # every theory tied with the last member, so both 0.2s.
        (0.25, [0, 1, 1, 0], [0, 1, 1, 1]),
        (0.3, [0, 1, 0, 0], [0, 1, 0, 0]),
    ],
)
def test_members_under_ties(alpha, order_members, worst_members):
    assert cautious_members(P, alpha, ties="order").astype(int).tolist() == order_members
    assert cautious_members(P, alpha, ties="worst").astype(int).tolist() == worst_members


def test_tie_rank_chooses_which_tied_theory_fills_the_last_place():
    # Rank index 3 ahead of index 2: with k = 2 the second 0.2 is taken instead of the first.
    members = cautious_members(P, 0.25, ties="random", tie_rank=np.array([0, 1, 3, 2]))
    assert members.astype(int).tolist() == [0, 1, 0, 1]
    members = cautious_members(P, 0.25, ties="random", tie_rank=np.array([9, 8, 1, 5]))
    assert members.astype(int).tolist() == [0, 1, 1, 0]


def test_cautious_estimate_under_ties_order_vs_worst():
    harm = np.array([[0.9], [0.05], [0.3], [0.7]])  # theory 3 (second 0.2) is the dangerous one
    order = harm_estimate("cautious", P, harm, alpha=0.25, ties="order")
    worst = harm_estimate("cautious", P, harm, alpha=0.25, ties="worst")
    assert order.estimate.tolist() == [0.3] and order.witness.tolist() == [2]
    assert worst.estimate.tolist() == [0.7] and worst.witness.tolist() == [3]
    # The default is "worst".
    assert harm_estimate("cautious", P, harm, alpha=0.25).estimate.tolist() == [0.7]
    # Below 1/10 every theory is in, above 2/7 only the most probable.
    assert harm_estimate("cautious", P, harm, alpha=0.05).estimate.tolist() == [0.9]
    assert harm_estimate("cautious", P, harm, alpha=0.3).estimate.tolist() == [0.05]


def test_alpha_one_keeps_only_the_most_probable_theory():
    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.dirichlet(np.ones(6))
        members = cautious_members(p, 1.0)
        assert members.sum() == 1 and members[np.argmax(p)]


def test_tiny_alpha_keeps_every_theory_with_mass():
    p = np.array([0.999, 1e-4, 0.0, 9e-4, 0.0])
    assert cautious_members(p, 1e-12).tolist() == [True, True, False, True, False]
    assert int(cautious_set_size(p, 1e-12)) == 3


def test_uniform_posterior_boundary_is_inclusive():
    # Uniform over 1024: the ratio of the j-th theory is 1/j, so alpha = 1/100 keeps exactly 100.
    p = np.full(1024, 1 / 1024)
    assert int(cautious_set_size(p, 1 / 100)) == 100
    assert int(cautious_set_size(p, 1 / 100 * (1 + 1e-9))) == 99


# ---------------------------------------------------------------------------- brute-force cross-checks
def test_cautious_rule_matches_brute_force_on_random_posteriors():
    rng = np.random.default_rng(2024)
    for _ in range(300):
        n = int(rng.integers(1, 9))
        p = rng.dirichlet(np.full(n, rng.choice([0.2, 1.0, 5.0])))
        harm = rng.random((n, 3))
        alpha = float(10 ** rng.uniform(-3, 0))
        expected, members = brute_cautious(p, harm, alpha)
        for ties in ("order", "worst"):
            res = cautious_rule(p, harm, alpha, ties)
            np.testing.assert_array_equal(res.estimate, expected)
            np.testing.assert_array_equal(harm[res.witness, np.arange(3)], expected)
            assert np.flatnonzero(cautious_members(p, alpha, ties)).tolist() == members
        assert int(cautious_set_size(p, alpha)) == len(members)


def test_rules_are_batched_over_leading_axes():
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=(4, 3))
    harm = rng.random((4, 3, 5, 2))
    for rule, kw in [("cautious", {"alpha": 0.05}), ("posterior", {}), ("cautious-iid", {})]:
        batched = harm_estimate(rule, probs, harm, **kw)
        assert batched.estimate.shape == (4, 3, 2) and batched.witness.shape == (4, 3, 2)
        for i in range(4):
            for j in range(3):
                single = harm_estimate(rule, probs[i, j], harm[i, j], **kw)
                np.testing.assert_array_equal(batched.estimate[i, j], single.estimate)
                np.testing.assert_array_equal(batched.witness[i, j], single.witness)


TIED_CASES = [
    [4, 2, 2, 1, 1],
    [2, 2, 2, 2],
    [3, 1, 1, 1, 2],
    [1, 1, 1],
    [5, 5, 3, 3, 0],
]


@pytest.mark.parametrize("counts", TIED_CASES)
def test_ties_worst_is_max_over_orderings_of_ties_order(counts):
    rng = np.random.default_rng(sum(counts))
    p = np.array(counts, dtype=float) / sum(counts)
    n = len(p)
    for _ in range(6):
        harm = rng.random((n, 2))
        for alpha in (1e-3, 0.12, 0.2, 0.3, 0.45, 0.7, 1.0):
            worst = cautious_rule(p, harm, alpha, "worst").estimate
            best = np.full(2, -1.0)
            for perm in permutations(range(n)):
                rank = np.array(perm)
                got = cautious_rule(p, harm, alpha, "random", tie_rank=rank).estimate
                expected, _ = brute_cautious(p, harm, alpha, rank=rank)
                np.testing.assert_array_equal(got, expected)
                best = np.maximum(best, got)
            np.testing.assert_array_equal(worst, best)


def test_cautious_estimate_is_non_increasing_in_alpha():
    rng = np.random.default_rng(3)
    alphas = np.geomspace(1e-4, 1.0, 60)
    for _ in range(40):
        n = int(rng.integers(2, 10))
        counts = rng.integers(0, 4, n) + (rng.random(n) < 0.5) * rng.random(n)  # some exact ties
        counts[0] += 1.0
        p = counts / counts.sum()
        harm = rng.random((n, 3))
        for ties in ("order", "worst"):
            est = np.array([cautious_rule(p, harm, a, ties).estimate for a in alphas])
            assert np.all(np.diff(est, axis=0) <= 0.0)
        sizes = np.array([int(cautious_set_size(p, a)) for a in alphas])
        assert np.all(np.diff(sizes) <= 0)


def test_posterior_rule_is_probs_at_harm():
    rng = np.random.default_rng(4)
    for _ in range(20):
        p = rng.dirichlet(np.ones(6))
        harm = rng.random((6, 4))
        res = posterior_rule(p, harm)
        manual = np.array([sum(p[t] * harm[t, a] for t in range(6)) for a in range(4)])
        np.testing.assert_allclose(res.estimate, manual, rtol=1e-12)
        np.testing.assert_array_equal(res.witness, np.argmax(p[:, None] * harm, axis=0))
        np.testing.assert_allclose(harm_estimate("posterior", p, harm).estimate, p @ harm, rtol=1e-12)


def test_cautious_iid_matches_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(100):
        n = int(rng.integers(1, 7))
        p = rng.dirichlet(np.ones(n))
        harm = rng.random((n, 3))
        np.testing.assert_array_equal(cautious_iid_rule(p, harm).estimate, brute_cautious_iid(p, harm))


def test_cautious_iid_breaks_score_ties_by_largest_harm():
    p = np.array([0.5, 0.25, 0.25])
    harm = np.array([[0.2, 0.0], [0.4, 0.0], [0.1, 0.0]])
    assert p[0] * harm[0, 0] == p[1] * harm[1, 0]  # exact tie in p * harm
    res = cautious_iid_rule(p, harm)
    assert res.estimate.tolist() == [0.4, 0.0]
    assert res.witness[0] == 1


def test_none_and_oracle_rules():
    p = np.array([0.3, 0.7])
    harm = np.array([[0.9, 0.1], [0.2, 0.8]])
    none = harm_estimate("none", p, harm)
    assert none.estimate.tolist() == [0.0, 0.0] and none.witness.tolist() == [-1, -1]
    oracle = harm_estimate(Rule.ORACLE, p, harm, true_harm=np.array([0.25, 0.5]))
    assert oracle.estimate.tolist() == [0.25, 0.5] and oracle.witness.tolist() == [-1, -1]


# ---------------------------------------------------------------------------- parsing and validation
def test_rule_parse():
    assert Rule.parse("cautious") is Rule.CAUTIOUS
    assert Rule.parse(Rule.POSTERIOR) is Rule.POSTERIOR
    assert Rule.parse("cautious-iid") is Rule.CAUTIOUS_IID
    with pytest.raises(ValueError, match=r"^rule: unknown rule 'bogus'.*cautious-iid"):
        Rule.parse("bogus")
    with pytest.raises(ValueError, match="^rule:"):
        harm_estimate("Cautious", np.array([1.0]), np.array([[0.5]]))


GOOD_P = np.array([0.25, 0.75])
GOOD_H = np.array([[0.1, 0.2], [0.3, 0.4]])


@pytest.mark.parametrize(
    "probs, harm, kwargs, match",
    [
        (GOOD_P, np.array([[0.1, 1.5], [0.3, 0.4]]), {}, "^harm: probabilities must lie in"),
        (GOOD_P, np.array([[0.1, -0.1], [0.3, 0.4]]), {}, "^harm: probabilities must lie in"),
        (GOOD_P, np.array([[0.1, np.nan], [0.3, 0.4]]), {}, "^harm: contains NaN"),
        (GOOD_P, np.array([0.1, 0.2]), {}, "^harm: expected shape"),
        (GOOD_P, np.ones((3, 2)) * 0.5, {}, "^harm: expected shape"),
        (GOOD_P, GOOD_H.T[None], {}, "^harm: expected shape"),
        (np.array([0.25, np.nan]), GOOD_H, {}, "^probs: contains NaN"),
        (np.array([0.25, 1.5]), GOOD_H, {}, "^probs: probabilities must lie in"),
        (np.array([0.25, 0.5]), GOOD_H, {}, "^probs: posterior probabilities must sum to 1"),
        (GOOD_P, GOOD_H, {"alpha": 0.0}, r"^alpha: expected a number in \(0, 1\]"),
        (GOOD_P, GOOD_H, {"alpha": -0.1}, "^alpha:"),
        (GOOD_P, GOOD_H, {"alpha": 1.5}, "^alpha:"),
        (GOOD_P, GOOD_H, {"alpha": np.nan}, "^alpha:"),
        (GOOD_P, GOOD_H, {"alpha": None}, "^alpha: the cautious rule needs alpha"),
        (GOOD_P, GOOD_H, {"alpha": 0.1, "ties": "bogus"}, "^ties:"),
    ],
)
def test_harm_estimate_validation_names_the_field(probs, harm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        harm_estimate("cautious", probs, harm, **{"alpha": 0.1, **kwargs})


def test_oracle_validation_names_true_harm():
    with pytest.raises(ValueError, match="^true_harm: the oracle rule needs"):
        harm_estimate("oracle", GOOD_P, GOOD_H)
    with pytest.raises(ValueError, match="^true_harm: expected shape"):
        harm_estimate("oracle", GOOD_P, GOOD_H, true_harm=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="^true_harm: probabilities must lie in"):
        harm_estimate("oracle", GOOD_P, GOOD_H, true_harm=np.array([0.1, 1.2]))


def test_cautious_members_rejects_unknown_ties():
    with pytest.raises(ValueError, match="^ties:"):
        cautious_members(P, 0.1, ties="bogus")
    with pytest.raises(ValueError, match="^tie_rank:"):
        cautious_members(P, 0.1, ties="random")
    with pytest.raises(ValueError, match="^tie_rank:"):
        cautious_members(P, 0.1, ties="random", tie_rank=np.array([0.0, 1.0, 2.0, 3.0]))


# ---------------------------------------------------------------------------- ties: an independent check
def independent_cautious(p: np.ndarray, harm: np.ndarray, alpha: float, rank: np.ndarray | None):
    """M_alpha and the cautious estimate written from the definition alone, sharing nothing with
    rules.py: a stable argsort of the negated posterior (ties by ``rank``, else by listing order), then
    the longest prefix whose every element j has p(j) >= alpha * (p(1) + ... + p(j))."""
    n = p.size
    key = np.arange(n) if rank is None else np.asarray(rank, dtype=np.int64)
    order = sorted(range(n), key=lambda i: (-p[i], key[i]))  # Python's sort is stable and exact
    k, total = 0, 0.0
    for j, i in enumerate(order):
        total += p[i]
        if p[i] >= alpha * total * (1 - 1e-12):
            k = j + 1
    k = max(k, 1)
    members = np.zeros(n, dtype=bool)
    members[order[:k]] = True
    return members, harm[members].max(axis=0)


INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def test_issue_reproducer_int16_rank_no_longer_empties_the_set():
    """The bandit's int16 tie_rank used to wrap the int64 sentinel to -1 (NumPy 2 promotion), so the
    untied theories sorted first and M_alpha could come out empty."""
    p = np.full(8, 1 / 8)
    rank = np.arange(8, dtype=np.int16)[::-1].copy()
    members = cautious_members(p, 0.3, ties="random", tie_rank=rank)
    assert members.sum() == cautious_set_size(p, 0.3) == 3
    assert members.astype(int).tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_set_size_equals_cautious_set_size_for_every_tie_mode_and_rank_dtype(dtype):
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        counts = rng.integers(1, 5, n).astype(float)  # many exact ties
        p = counts / counts.sum()
        alpha = float(rng.choice([1e-3, 0.02, 0.1, 0.3, 1.0]))
        rank = rng.permutation(n).astype(dtype)
        k = int(cautious_set_size(p, alpha))
        assert cautious_members(p, alpha, "order").sum() == k
        assert cautious_members(p, alpha, "random", tie_rank=rank).sum() == k
        worst = cautious_members(p, alpha, "worst")
        cut = np.sort(p)[::-1][k - 1]
        assert worst.sum() == np.sum(p >= cut) >= k


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_cautious_rule_matches_an_independent_implementation(dtype):
    rng = np.random.default_rng(12)
    for _ in range(150):
        n = int(rng.integers(1, 30))
        counts = rng.integers(1, 4, n).astype(float) + (rng.random(n) < 0.3) * rng.random(n)
        p = counts / counts.sum()
        harm = rng.random((n, 3))
        alpha = float(rng.choice([1e-4, 0.05, 0.15, 0.4, 1.0]))
        rank = rng.permutation(n).astype(dtype)
        for ties, r in (("order", None), ("random", rank)):
            members, est = independent_cautious(p, harm, alpha, r)
            np.testing.assert_array_equal(cautious_members(p, alpha, ties, r), members)
            np.testing.assert_array_equal(cautious_rule(p, harm, alpha, ties, r).estimate, est)


def test_batched_rows_with_narrow_rank_match_row_by_row():
    rng = np.random.default_rng(13)
    p = np.full((50, 64), 1 / 64)
    p[::2, :8] *= 1.5
    p /= p.sum(axis=1, keepdims=True)
    rank = np.array([rng.permutation(64) for _ in range(50)], dtype=np.int16)
    got = cautious_members(p, 0.05, "random", tie_rank=rank)
    for b in range(50):
        np.testing.assert_array_equal(got[b], independent_cautious(p[b], np.zeros((64, 1)), 0.05, rank[b])[0])
