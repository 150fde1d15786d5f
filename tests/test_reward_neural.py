"""The neural reward: an ensemble that learns a preference rule, disagrees more off its training
distribution, a last-layer Laplace fit checked against the Bradley-Terry Hessian by hand, the likelihood
against a brute formula, the guard over it, the artefact round trip, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

torch = pytest.importorskip("torch")

from bayesguard.artefact import ArtefactError  # noqa: E402
from bayesguard.guard.guard import Guard  # noqa: E402
from bayesguard.theories.base import TheoryFamily  # noqa: E402
from bayesguard.theories.reward import (  # noqa: E402
    HumanModel,
    NeuralRewardConfig,
    NeuralRewardFamily,
    Preferences,
    RationalityPrior,
)

BETA = 4.0
CFG = NeuralRewardConfig(members=4, hidden=8, epochs=250, lr=0.03, seed=0)


def rule(x: np.ndarray) -> np.ndarray:
    """The simulated person's reward: near (0.3, -0.2) is best."""
    return -np.sum((x - np.array([0.3, -0.2])) ** 2, axis=1)


def _pairs(n: int, low: float, high: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(low, high, (n, 2)), rng.uniform(low, high, (n, 2))


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    left, right = _pairs(150, -1, 1, rng)
    answer = (rng.random(150) >= expit(BETA * (rule(left) - rule(right)))).astype(int)
    prefs = Preferences(left, right, answer)
    return NeuralRewardFamily.train(prefs, 3, HumanModel(BETA), CFG), prefs


def test_ensemble_learns_the_rule_and_disagrees_off_distribution(trained):
    fam, _ = trained
    assert isinstance(fam, TheoryFamily)
    rng = np.random.default_rng(1)
    left, right = _pairs(400, -1, 1, rng)
    ens = fam.ensemble_posterior()
    p_in = fam.preference_probs(ens.theories, left, right)  # (members, pairs)
    truth = rule(left) > rule(right)
    accuracy = np.mean((p_in.mean(axis=0) > 0.5) == truth)
    # 400 held-out pairs: chance is 0.5 with standard error 0.025; the rule is learned well above it
    assert accuracy > 0.8, accuracy
    far_left, far_right = _pairs(400, 3, 5, rng)
    p_out = fam.preference_probs(ens.theories, far_left, far_right)
    assert p_out.std(axis=0).mean() > 2 * p_in.std(axis=0).mean()
    lap = fam.laplace_posterior(50, seed=2)
    q_in = fam.preference_probs(lap.theories, left, right)
    q_out = fam.preference_probs(lap.theories, far_left, far_right)
    assert np.mean((q_in.mean(axis=0) > 0.5) == truth) > 0.8
    assert q_out.std(axis=0).mean() > q_in.std(axis=0).mean()


def test_last_layer_laplace_is_the_bradley_terry_laplace_of_the_head(trained):
    fam, prefs = trained
    for m in range(fam.n_members):
        h = fam.features(prefs.left)[m] - fam.features(prefs.right)[m]  # (n, hidden)
        v = fam.laplace_mean[m]
        y = np.where(prefs.answer == 0, 1.0, -1.0)
        grad = BETA * ((1 - expit(BETA * y * (h @ v))) * y) @ h - v / CFG.prior_scale**2
        np.testing.assert_allclose(grad, 0.0, atol=1e-5)  # the head's MAP given the features
        s = expit(BETA * h @ v)
        prec = BETA**2 * (h * (s * (1 - s))[:, None]).T @ h + np.eye(fam.hidden) / CFG.prior_scale**2
        np.testing.assert_allclose(np.linalg.inv(fam.laplace_cov[m]), prec, rtol=1e-4, atol=1e-6)


def test_likelihood_and_rewards_against_brute_formulas(trained):
    fam, prefs = trained
    th = fam.laplace_posterior(3, seed=4).theories
    r = fam.reward(th, np.vstack([prefs.left, prefs.right]))
    n = len(prefs)
    y = np.where(prefs.answer == 0, 1.0, -1.0)
    brute = np.log(expit(BETA * y * (r[:, :n] - r[:, n:]))).sum(axis=1)
    np.testing.assert_allclose(fam.log_likelihood(th, prefs), brute, rtol=1e-10)
    for t in range(th.shape[0]):  # by hand, one theory at a time, from the member's trained layers
        m, v = int(th[t, 0]), th[t, 1:]
        hidden = prefs.left[:5]
        for w, b in zip(fam.weights, fam.biases, strict=True):
            hidden = np.tanh(hidden @ w[m] + b[m])
        np.testing.assert_allclose(r[t, :5], hidden @ v, rtol=1e-12)
    harm = fam.harm_prob(th, prefs.left[:3])
    best = r[:, :3].argmax(axis=1)
    np.testing.assert_array_equal(harm.argmin(axis=1), best)


def test_guard_asks_off_distribution(trained):
    fam, _ = trained
    # 400 Laplace draws: the Monte Carlo bound on the harm is tight enough to ALLOW a clear choice
    guard = Guard(fam, fam.laplace_posterior(100, seed=3), "posterior", 0.3)
    near = np.array([[0.3, -0.2], [-0.9, 0.9], [0.9, 0.9]])
    assert guard.check(near, 0).decision.value == "ALLOW"
    far = guard.check(near + 40.0, 0)
    assert far.decision.value != "ALLOW" and "outside the data's support" in str(far)


def test_artefact_round_trip_and_tampering(trained, tmp_path):
    fam, _ = trained
    path = fam.save(tmp_path / "reward.npz")
    back = NeuralRewardFamily.load(path)
    x = np.random.default_rng(5).normal(size=(6, 2))
    np.testing.assert_array_equal(back.member_rewards(x), fam.member_rewards(x))
    np.testing.assert_array_equal(back.laplace_cov, fam.laplace_cov)
    assert back.model == fam.model and back.config == fam.config and back.n_actions == fam.n_actions
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["head"] = arrays["head"] + 1e-3  # a consistent rewrite with a stale checksum
    bad = tmp_path / "tampered.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ArtefactError, match="checksum"):
        NeuralRewardFamily.load(bad)


def test_bad_input_names_the_field(trained):
    fam, prefs = trained
    with pytest.raises(ValueError, match="theories"):
        fam.reward(np.array([[7.0] + [0.0] * fam.hidden]), prefs.left)
    with pytest.raises(ValueError, match="features"):
        fam.reward(fam.ensemble_posterior().theories, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="context"):
        fam.harm_prob(fam.ensemble_posterior().theories, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="model.beta"):
        NeuralRewardFamily.train(prefs, 3, HumanModel(RationalityPrior([1.0, 2.0])), CFG)
    with pytest.raises(ValueError, match="members"):
        NeuralRewardConfig(members=0)
    with pytest.raises(ValueError, match="prefs"):
        NeuralRewardFamily.train("answers", 3)  # type: ignore[arg-type]
