"""Theory families: shapes, harm probabilities against scipy, likelihoods, and validation messages."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from scipy import stats

from bayesguard import BanditData, FiniteData, FiniteFamily, LinearBanditFamily
from bayesguard.theories import EnumerableFamily, TheoryFamily, finite_family, harm_table

TABLE = np.array(
    [
        [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
        [[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]],
        [[0.1, 0.1, 0.8], [0.6, 0.3, 0.1]],
    ]
)
HARMFUL = np.array([True, False, True])
PRIOR = np.array([0.5, 0.3, 0.2])

ARMS = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 0]], dtype=float)


# ---------------------------------------------------------------------------- FiniteFamily
def test_finite_shapes_and_values():
    fam = FiniteFamily(TABLE, HARMFUL, PRIOR)
    assert isinstance(fam, EnumerableFamily) and isinstance(fam, TheoryFamily)
    assert (fam.n_theories, fam.n_actions) == (3, 2)
    th = fam.enumerate()
    assert th.tolist() == [0, 1, 2]
    np.testing.assert_allclose(fam.log_prior(th), np.log(PRIOR), rtol=1e-15)
    np.testing.assert_allclose(fam.log_prior(np.array([2, 0])), np.log([0.2, 0.5]), rtol=1e-15)
    harm = fam.harm_prob(th)
    assert harm.shape == (3, 2)
    np.testing.assert_allclose(harm, TABLE[:, :, 0] + TABLE[:, :, 2], rtol=1e-15)
    for a in range(2):
        np.testing.assert_array_equal(fam.harm_prob(th, None, a), harm[:, a])
        assert fam.harm_prob(th, action=a).shape == (3,)
    assert fam.harm_prob(np.array([1]), action=1).tolist() == [pytest.approx(0.7)]


def test_finite_uniform_prior_by_default():
    fam = FiniteFamily(TABLE, HARMFUL)
    np.testing.assert_allclose(np.exp(fam.log_prior(fam.enumerate())), np.full(3, 1 / 3), rtol=1e-15)


def test_finite_log_likelihood():
    fam = FiniteFamily(TABLE, HARMFUL, PRIOR)
    actions, outcomes = np.array([0, 1, 1, 0]), np.array([2, 0, 1, 1])
    ll = fam.log_likelihood(fam.enumerate(), FiniteData(actions, outcomes))
    assert ll.shape == (3,)
    pairs = list(zip(actions, outcomes, strict=True))
    manual = [np.log(np.prod([TABLE[t, a, o] for a, o in pairs])) for t in range(3)]
    np.testing.assert_allclose(ll, manual, rtol=1e-12)
    empty = fam.log_likelihood(fam.enumerate(), FiniteData(np.array([], dtype=int), np.array([], dtype=int)))
    assert empty.tolist() == [0.0, 0.0, 0.0]


def test_finite_zero_probability_outcome_gives_minus_inf():
    table = TABLE.copy()
    table[1, 0] = [0.0, 0.5, 0.5]
    fam = FiniteFamily(table, HARMFUL)
    ll = fam.log_likelihood(fam.enumerate(), FiniteData(np.array([0]), np.array([0])))
    assert ll[1] == -np.inf and np.isfinite(ll[[0, 2]]).all()


def test_finite_family_from_nested_lists_and_describe():
    fam = finite_family(
        [[[1, 0], [0.5, 0.5]]],
        [True, False],
        theory_names=["t"],
        action_names=["go", "stay"],
        outcome_names=["boom", "fine"],
    )
    assert fam.harm_prob(np.array([0])).tolist() == [[1.0, 0.5]]
    assert fam.describe(0) == "t: go -> boom; stay -> boom (0.5) | fine (0.5)"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"outcome_probs": TABLE * 2.0}, "^outcome_probs: probabilities must lie in"),
        ({"outcome_probs": TABLE * 0.9}, r"^outcome_probs: each \[theory, action, :\] row must sum to 1"),
        ({"outcome_probs": TABLE[0]}, "^outcome_probs: expected a 3-d array"),
        ({"outcome_probs": np.where(TABLE == 0.7, np.nan, TABLE)}, "^outcome_probs: contains NaN"),
        ({"harmful": np.array([True, False])}, r"^harmful: expected shape \(3,\)"),
        ({"prior": np.array([0.5, 0.3, 0.3])}, "^prior: expected 3 probabilities summing to 1"),
        ({"prior": np.array([0.5, 0.5])}, "^prior: expected 3 probabilities"),
        ({"prior": np.array([1.2, -0.1, -0.1])}, "^prior: probabilities must lie in"),
        ({"theory_names": ("a", "b")}, "^theory_names: expected 3 names"),
        ({"action_names": ("a",)}, "^action_names: expected 2 names"),
        ({"outcome_names": ("a", "b")}, "^outcome_names: expected 3 names"),
    ],
)
def test_finite_construction_errors_name_the_field(kwargs, match):
    args = {"outcome_probs": TABLE, "harmful": HARMFUL, "prior": PRIOR, **kwargs}
    with pytest.raises(ValueError, match=match):
        FiniteFamily(**args)


def test_finite_theory_and_context_errors():
    fam = FiniteFamily(TABLE, HARMFUL)
    with pytest.raises(ValueError, match=r"^theories: indices must lie in \[0, 2\]"):
        fam.log_prior(np.array([0, 3]))
    with pytest.raises(ValueError, match="^theories: expected a 1-d array of integer"):
        fam.harm_prob(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="^theories:"):
        fam.harm_prob(np.array([[0, 1]]))
    with pytest.raises(ValueError, match="^context: FiniteFamily theories take no context"):
        fam.harm_prob(fam.enumerate(), context=np.zeros(2))
    with pytest.raises(ValueError, match=r"^action: expected an action index in \[0, 1\]"):
        fam.harm_prob(fam.enumerate(), action=2)


@pytest.mark.parametrize(
    "actions, outcomes, match",
    [
        ([0, 1], [0, 3], r"^data\.outcomes: indices must lie in \[0, 2\]"),
        ([0, 1], [-1, 0], r"^data\.outcomes:"),
        ([0, 2], [0, 0], r"^data\.actions: indices must lie in \[0, 1\]"),
        ([-1, 0], [0, 0], r"^data\.actions:"),
    ],
)
def test_finite_data_out_of_range_names_the_field(actions, outcomes, match):
    fam = FiniteFamily(TABLE, HARMFUL)
    with pytest.raises(ValueError, match=match):
        fam.log_likelihood(fam.enumerate(), FiniteData(np.array(actions), np.array(outcomes)))


def test_finite_data_record_errors():
    with pytest.raises(ValueError, match="^FiniteData: actions and outcomes must be 1-d arrays of equal"):
        FiniteData(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="^FiniteData:"):
        FiniteData(np.array([[0, 1]]), np.array([[0, 1]]))
    with pytest.raises(TypeError, match="^FiniteData: actions and outcomes must be integer"):
        FiniteData(np.array([0.0, 1.0]), np.array([0, 1]))
    with pytest.raises(TypeError, match="^data: expected a FiniteData"):
        FiniteFamily(TABLE, HARMFUL).log_likelihood(np.arange(3), ([0], [1]))


# ---------------------------------------------------------------------------- LinearBanditFamily
def test_bandit_enumerate_is_every_binary_vector():
    fam = LinearBanditFamily(n_features=3, n_actions=4)
    th = fam.enumerate()
    assert th.shape == (8, 3) and th.dtype == np.float64
    assert {tuple(row) for row in th.astype(int).tolist()} == set(product((0, 1), repeat=3))
    np.testing.assert_allclose(fam.log_prior(th), np.full(8, -np.log(8)), rtol=1e-15)


@pytest.mark.parametrize("sigma, threshold", [(1.0, 4.0), (0.5, 4.0), (2.0, 1.5)])
def test_bandit_harm_prob_matches_normal_tail(sigma, threshold):
    fam = LinearBanditFamily(n_features=3, n_actions=4, sigma=sigma, harm_threshold=threshold)
    th = fam.enumerate()
    rng = np.random.default_rng(0)
    for context in (ARMS, rng.normal(size=(4, 3)) * 2):
        harm = fam.harm_prob(th, context)
        assert harm.shape == (8, 4)
        for t in range(8):
            for a in range(4):
                mean = float(np.dot(th[t], context[a]))
                expected = stats.norm.sf((threshold - mean) / sigma)
                assert harm[t, a] == pytest.approx(expected, rel=1e-12, abs=1e-300)
        for a in range(4):
            np.testing.assert_array_equal(fam.harm_prob(th, context, a), harm[:, a])
            assert fam.harm_prob(th, context, action=a).shape == (8,)


def test_bandit_default_harm_values():
    fam = LinearBanditFamily(n_features=3, n_actions=4)  # sigma 1, threshold 4
    harm = fam.harm_prob(np.array([[1.0, 1.0, 1.0]]), ARMS)
    # means 2, 2, 3, 0 -> P(N(mean, 1) > 4)
    np.testing.assert_allclose(harm[0], stats.norm.sf([2.0, 2.0, 1.0, 4.0]), rtol=1e-12)


@pytest.mark.parametrize("max_mean, sigma, threshold", [(3, 1.0, 4.0), (10, 1.0, 4.0), (5, 0.7, 2.5)])
def test_harm_table_matches_scipy_and_harm_prob(max_mean, sigma, threshold):
    table = harm_table(max_mean, sigma, threshold)
    assert table.shape == (max_mean + 1,)
    for m in range(max_mean + 1):
        assert table[m] == pytest.approx(stats.norm.sf((threshold - m) / sigma), rel=1e-12)
    assert np.all(np.diff(table) > 0)
    if max_mean <= 5:
        n = max(max_mean, 1)
        fam = LinearBanditFamily(n_features=n, n_actions=1, sigma=sigma, harm_threshold=threshold)
        th = fam.enumerate()
        harm = fam.harm_prob(th, np.ones((1, n)))[:, 0]
        np.testing.assert_allclose(harm, table[th.sum(axis=1).astype(int)], rtol=1e-15)


def test_bandit_log_likelihood_matches_scipy():
    fam = LinearBanditFamily(n_features=3, n_actions=4, sigma=0.7)
    th = fam.enumerate()
    feats = ARMS[[0, 1, 2, 2, 3]]
    rewards = np.array([1.5, 0.4, 2.9, 3.3, -0.2])
    ll = fam.log_likelihood(th, BanditData(feats, rewards))
    assert ll.shape == (8,)
    for t in range(8):
        pairs = zip(feats, rewards, strict=True)
        manual = sum(stats.norm.logpdf(r, loc=float(th[t] @ f), scale=0.7) for f, r in pairs)
        assert ll[t] == pytest.approx(manual, rel=1e-12)


def test_bandit_describe():
    fam = LinearBanditFamily(n_features=4, n_actions=2)
    assert fam.describe(np.array([0.0, 1.0, 1.0, 0.0])) == "w = 0110"


@pytest.mark.parametrize(
    "context, match",
    [
        (np.zeros((4, 2)), r"^context \(arm features\): expected shape \(4, 3\)"),
        (np.zeros((3, 3)), r"^context \(arm features\): expected shape \(4, 3\)"),
        (np.zeros(12), r"^context \(arm features\): expected a 2-d array"),
        (np.full((4, 3), np.nan), r"^context \(arm features\): contains NaN"),
    ],
)
def test_bandit_context_errors_name_the_field(context, match):
    fam = LinearBanditFamily(n_features=3, n_actions=4)
    with pytest.raises(ValueError, match=match):
        fam.harm_prob(fam.enumerate(), context)


def test_bandit_theory_errors_name_the_field():
    fam = LinearBanditFamily(n_features=3, n_actions=4)
    with pytest.raises(ValueError, match="^theories: weights must be 0 or 1"):
        fam.log_prior(np.array([[0.0, 0.5, 1.0]]))
    with pytest.raises(ValueError, match="^theories: weights must be 0 or 1"):
        fam.log_prior(np.array([[0.0, 2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"^theories: expected shape \(n_theories, 3\)"):
        fam.harm_prob(np.zeros((2, 4)), ARMS)
    with pytest.raises(ValueError, match="^theories: expected a 2-d array"):
        fam.log_prior(np.zeros(3))
    with pytest.raises(ValueError, match=r"^action: expected an action index in \[0, 3\]"):
        fam.harm_prob(fam.enumerate(), ARMS, action=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sigma": 0.0}, "^sigma: expected a positive number"),
        ({"sigma": -1.0}, "^sigma:"),
        ({"sigma": float("nan")}, "^sigma:"),
        ({"sigma": float("inf")}, "^sigma:"),
        ({"n_features": 21}, "^n_features: at most 20"),
        ({"n_features": 0}, "^n_features: expected an integer >= 1"),
        ({"n_actions": 0}, "^n_actions: expected an integer >= 1"),
    ],
)
def test_bandit_construction_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearBanditFamily(**kwargs)


def test_bandit_n_features_20_is_allowed_and_type_errors():
    assert LinearBanditFamily(n_features=20).n_features == 20
    with pytest.raises(TypeError, match="^n_features:"):
        LinearBanditFamily(n_features=3.0)


def test_bandit_data_errors_name_the_field():
    fam = LinearBanditFamily(n_features=3, n_actions=4)
    with pytest.raises(ValueError, match="^BanditData: features has 2 rows but rewards has 3"):
        BanditData(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"^BanditData\.features: expected a 2-d array"):
        BanditData(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"^BanditData\.rewards: contains NaN"):
        BanditData(np.zeros((1, 3)), np.array([np.nan]))
    with pytest.raises(ValueError, match=r"^data\.features: expected 3 columns, got 2"):
        fam.log_likelihood(fam.enumerate(), BanditData(np.zeros((1, 2)), np.zeros(1)))
    with pytest.raises(TypeError, match="^data: expected a BanditData"):
        fam.log_likelihood(fam.enumerate(), (ARMS, np.zeros(4)))
