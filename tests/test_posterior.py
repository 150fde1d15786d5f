"""The Posterior record: exact Bayes by brute force, chunked updates, ESS, expectations, persistence."""

from __future__ import annotations

import io
from itertools import product

import numpy as np
import pytest
from scipy import stats

from bayesguard import BanditData, FiniteData, FiniteFamily, LinearBanditFamily, Posterior, exact_posterior
from bayesguard.artefact import load_arrays, save_arrays
from bayesguard.posterior import SamplerError

# A small tabular world: 3 theories, 2 actions, 3 outcomes, non-uniform prior.
TABLE = np.array(
    [
        [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
        [[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]],
        [[0.1, 0.1, 0.8], [0.6, 0.3, 0.1]],
    ]
)
PRIOR = np.array([0.5, 0.3, 0.2])
ACTIONS = np.array([0, 1, 1, 0, 0, 1, 0])
OUTCOMES = np.array([2, 0, 1, 1, 2, 0, 2])

ARM_FEATURES = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=float)
REWARDS = np.array([1.3, 0.2, 2.1, 0.7, 1.1])


def finite_family() -> FiniteFamily:
    return FiniteFamily(TABLE, harmful=np.array([True, False, False]), prior=PRIOR)


def brute_force_finite(actions: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    """prior(t) * prod_i P(o_i | a_i, t), normalised, with plain loops."""
    w = PRIOR.copy()
    for t in range(len(PRIOR)):
        for a, o in zip(actions, outcomes, strict=True):
            w[t] *= TABLE[t, a, o]
    return w / w.sum()


def brute_force_bandit(features: np.ndarray, rewards: np.ndarray, sigma: float) -> dict[tuple, float]:
    """Uniform prior on {0,1}^3 times the Gaussian density of each reward, normalised."""
    weights = {}
    for w in product((0, 1), repeat=3):
        lik = 1.0 / 8.0
        for f, r in zip(features, rewards, strict=True):
            lik *= stats.norm.pdf(r, loc=float(np.dot(w, f)), scale=sigma)
        weights[w] = lik
    total = sum(weights.values())
    return {w: v / total for w, v in weights.items()}


# ---------------------------------------------------------------------------- exact = brute-force Bayes
def test_finite_exact_posterior_equals_brute_force():
    post = exact_posterior(finite_family(), FiniteData(ACTIONS, OUTCOMES))
    np.testing.assert_allclose(post.probs, brute_force_finite(ACTIONS, OUTCOMES), rtol=1e-12)
    assert post.kind == "exact" and post.family == "finite"
    assert post.theories.tolist() == [0, 1, 2]


def test_finite_prior_only_is_the_prior():
    post = exact_posterior(finite_family())
    np.testing.assert_allclose(post.probs, PRIOR, rtol=1e-12)


def test_finite_impossible_outcome_gets_zero_weight():
    table = TABLE.copy()
    table[0, 1] = [0.0, 0.5, 0.5]  # theory 0 says action 1 never gives outcome 0
    family = FiniteFamily(table, harmful=np.array([True, False, False]), prior=PRIOR)
    post = exact_posterior(family, FiniteData(np.array([1]), np.array([0])))
    expected = PRIOR * table[:, 1, 0]
    np.testing.assert_allclose(post.probs, expected / expected.sum(), rtol=1e-12)
    assert post.probs[0] == 0.0


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_bandit_exact_posterior_equals_brute_force(sigma):
    family = LinearBanditFamily(n_features=3, n_actions=5, sigma=sigma)
    post = exact_posterior(family, BanditData(ARM_FEATURES, REWARDS))
    expected = brute_force_bandit(ARM_FEATURES, REWARDS, sigma)
    assert post.n_theories == 8
    got = {tuple(int(x) for x in th): p for th, p in zip(post.theories, post.probs, strict=True)}
    assert set(got) == set(expected)
    for w, p in expected.items():
        assert got[w] == pytest.approx(p, rel=1e-10, abs=1e-300)


# ---------------------------------------------------------------------------- updating
@pytest.mark.parametrize("split", [0, 1, 3, 6, 7])
def test_finite_update_in_two_chunks_equals_one_update(split):
    family = finite_family()
    first = FiniteData(ACTIONS[:split], OUTCOMES[:split])
    second = FiniteData(ACTIONS[split:], OUTCOMES[split:])
    chunked = exact_posterior(family, first).update(family, second)
    once = exact_posterior(family).update(family, FiniteData(ACTIONS, OUTCOMES))
    direct = exact_posterior(family, FiniteData(ACTIONS, OUTCOMES))
    np.testing.assert_allclose(chunked.log_weights, direct.log_weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(once.log_weights, direct.log_weights, rtol=0, atol=1e-12)
    assert chunked.kind == "exact"


@pytest.mark.parametrize("split", [1, 2, 4])
def test_bandit_update_in_two_chunks_equals_one_update(split):
    family = LinearBanditFamily(n_features=3, n_actions=5, sigma=0.8)
    chunked = exact_posterior(family, BanditData(ARM_FEATURES[:split], REWARDS[:split])).update(
        family, BanditData(ARM_FEATURES[split:], REWARDS[split:])
    )
    direct = exact_posterior(family, BanditData(ARM_FEATURES, REWARDS))
    np.testing.assert_array_equal(chunked.theories, direct.theories)
    np.testing.assert_allclose(chunked.log_weights, direct.log_weights, rtol=0, atol=1e-10)


def test_update_of_samples_is_importance_reweighting():
    family = finite_family()
    samples = np.array([0, 0, 2, 1, 2, 2])
    post = Posterior.from_samples(samples, family="finite")
    assert post.kind == "samples"
    np.testing.assert_allclose(post.probs, np.full(6, 1 / 6))
    updated = post.update(family, FiniteData(ACTIONS, OUTCOMES))
    assert updated.kind == "weighted"
    lik = np.array([np.prod(TABLE[t, ACTIONS, OUTCOMES]) for t in samples])
    np.testing.assert_allclose(updated.probs, lik / lik.sum(), rtol=1e-12)


def test_update_rejects_likelihood_of_wrong_shape():
    class BadFamily:
        name = "bad"
        n_actions = 2

        def log_likelihood(self, theories, data):
            return np.zeros(len(theories) + 1)

    post = exact_posterior(finite_family())
    with pytest.raises(ValueError, match=r"family\.log_likelihood"):
        post.update(BadFamily(), None)


# ---------------------------------------------------------------------------- views
def test_log_weights_are_normalised():
    post = Posterior.from_log_weights(np.arange(3), np.array([1000.0, 1001.0, 999.0]))
    e = np.exp([1.0, 2.0, 0.0])
    np.testing.assert_allclose(post.probs, e / e.sum(), rtol=1e-12)
    assert np.exp(post.log_weights).sum() == pytest.approx(1.0, abs=1e-12)  # ulp(1000) ~ 1e-13


@pytest.mark.parametrize(
    "probs", [[0.5, 0.25, 0.25], [0.9, 0.05, 0.05], [1.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]]
)
def test_ess_is_inverse_sum_of_squares(probs):
    p = np.array(probs)
    with np.errstate(divide="ignore"):
        post = Posterior.from_log_weights(np.arange(len(p)), np.log(p))
    assert post.ess == pytest.approx(1.0 / np.sum(p**2), rel=1e-12)
    assert 1.0 - 1e-12 <= post.ess <= len(p) + 1e-12


def test_ess_known_values():
    post = Posterior.from_log_weights(np.arange(3), np.log([0.5, 0.25, 0.25]))
    assert post.ess == pytest.approx(8.0 / 3.0, rel=1e-12)
    with np.errstate(divide="ignore"):
        point = Posterior.from_log_weights(np.arange(3), np.log([0.0, 1.0, 0.0]))
    assert point.ess == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7, 1024])
def test_ess_of_uniform_weights_is_n(n):
    assert Posterior.from_samples(np.arange(n)).ess == pytest.approx(n, rel=1e-12)
    assert Posterior.from_log_weights(np.arange(n), np.full(n, -3.7)).ess == pytest.approx(n, rel=1e-12)


def test_expect_matches_weighted_sum():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5))
    post = Posterior.from_log_weights(np.arange(5), np.log(p))
    v1 = rng.normal(size=5)
    manual = sum(p[i] * v1[i] for i in range(5))
    assert float(post.expect(v1)) == pytest.approx(manual, rel=1e-12)
    v3 = rng.normal(size=(5, 2, 3))
    manual3 = sum(p[i] * v3[i] for i in range(5))
    np.testing.assert_allclose(post.expect(v3), manual3, rtol=1e-12)
    assert post.expect(v3).shape == (2, 3)


@pytest.mark.parametrize("values", [np.zeros(4), np.zeros((6, 2)), np.float64(1.0)])
def test_expect_rejects_wrong_shape(values):
    post = Posterior.from_samples(np.arange(5))
    with pytest.raises(ValueError, match="values"):
        post.expect(values)


def test_expect_rejects_nan():
    post = Posterior.from_samples(np.arange(3))
    with pytest.raises(ValueError, match="values"):
        post.expect(np.array([0.1, np.nan, 0.2]))


def test_top_orders_by_probability():
    post = Posterior.from_log_weights(np.arange(4), np.log([0.1, 0.5, 0.2, 0.2]))
    top = post.top(3)
    assert [i for i, _ in top] == [1, 2, 3]
    np.testing.assert_allclose([p for _, p in top], [0.5, 0.2, 0.2])


# ---------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("kind_family", [("exact", "finite"), ("samples", None), ("weighted", "x")])
def test_save_load_round_trip_finite(tmp_path, kind_family):
    kind, family = kind_family
    post = Posterior.from_log_weights(np.array([0, 2, 1]), np.log([0.2, 0.3, 0.5]), kind, family)
    path = post.save(tmp_path / "post.npz")
    assert path == tmp_path / "post.npz" and path.exists()
    back = Posterior.load(path)
    np.testing.assert_array_equal(back.theories, post.theories)
    assert back.theories.dtype == post.theories.dtype
    np.testing.assert_allclose(back.log_weights, post.log_weights, rtol=0, atol=1e-15)
    assert back.kind == kind and back.family == family


def test_save_load_round_trip_bandit(tmp_path):
    family = LinearBanditFamily(n_features=3, n_actions=5)
    post = exact_posterior(family, BanditData(ARM_FEATURES, REWARDS))
    back = Posterior.load(post.save(tmp_path / "bandit"))
    np.testing.assert_array_equal(back.theories, post.theories)
    assert back.theories.shape == (8, 3)
    np.testing.assert_allclose(back.log_weights, post.log_weights, rtol=0, atol=1e-15)
    assert (back.kind, back.family) == ("exact", "linear-bandit")


def test_save_forces_npz_suffix(tmp_path):
    post = Posterior.from_samples(np.arange(3), method="mcmc", independent=False)
    path = post.save(tmp_path / "post.json")
    assert path == tmp_path / "post.npz" and path.exists()
    _, head = load_arrays(path, "posterior", (2,))
    assert head["format"] == "bayesguard.posterior" and head["version"] == 2 and head["family"] is None
    assert head["meta"]["kind"] == "samples" and head["meta"]["method"] == "mcmc"
    assert head["meta"]["sampler_error"] == {"tv": None, "how": "unknown", "is_bound": False}


def test_load_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        Posterior.load(path)


def test_load_garbage_bytes_raises_value_error(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a numpy archive at all")
    with pytest.raises(ValueError):
        Posterior.load(path)


def test_load_npz_missing_arrays(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, theories=np.arange(3))
    with pytest.raises(ValueError, match=r"not a bayesguard artefact"):
        Posterior.load(path)
    save_arrays(path, "posterior", 2, {"theories": np.arange(3)}, meta={"kind": "exact"})
    with pytest.raises(ValueError, match="log_weights"):
        Posterior.load(path)


def _write(path, meta, log_weights=None, kind="posterior", version=2):
    lw = np.zeros(3) if log_weights is None else log_weights
    return save_arrays(path, kind, version, {"theories": np.arange(3), "log_weights": lw}, meta=meta)


@pytest.mark.parametrize(
    "kind, version, meta, match",
    [
        ("something-else", 2, {"kind": "exact"}, "bayesguard.something-else"),
        ("posterior", 1, {"kind": "exact"}, "version"),
        ("posterior", 2, {"kind": "bogus"}, "kind"),
        ("posterior", 2, {"kind": "samples", "sampler_error": {"tv": -0.5, "how": "x"}}, "sampler_error"),
    ],
)
def test_load_rejects_bad_meta(tmp_path, kind, version, meta, match):
    path = _write(tmp_path / "bad.npz", meta, kind=kind, version=version)
    with pytest.raises(ValueError, match=match):
        Posterior.load(path)


def test_load_rejects_corrupt_log_weights(tmp_path):
    path = _write(tmp_path / "nan.npz", {"kind": "exact"}, np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="log_weights"):
        Posterior.load(path)


def test_a_rewritten_posterior_fails_its_checksum(tmp_path):
    """Rewriting the weights consistently inside the archive (a valid .npz, valid JSON) used to load
    and turn a REJECT into an ALLOW; the checksum now refuses it."""
    import zipfile

    post = Posterior.from_log_weights(np.arange(3), np.log([0.98, 0.01, 0.01]), family="f")
    path = post.save(tmp_path / "p.npz")
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "log_weights.npy":
                buf = io.BytesIO()
                np.save(buf, np.log([0.01, 0.01, 0.98]))
                data = buf.getvalue()
            dst.writestr(item, data)
    with pytest.raises(ValueError, match="checksum"):
        Posterior.load(forged)


def test_load_checks_the_family(tmp_path):
    path = Posterior.from_samples(np.arange(3), family="linear-bandit").save(tmp_path / "p.npz")
    assert Posterior.load(path, family="linear-bandit").family == "linear-bandit"
    with pytest.raises(ValueError, match="family 'linear-bandit', not 'finite'"):
        Posterior.load(path, family="finite")


def test_provenance_round_trips_and_exact_is_forced(tmp_path):
    err = SamplerError(0.02, "exact sampler law against the enumerated posterior", True)
    post = Posterior.from_samples(np.arange(4), method="gflownet", sampler_error=err)
    back = Posterior.load(post.save(tmp_path / "p.npz"))
    assert back.sampler_error == err and back.method == "gflownet" and back.independent
    assert "gflownet" in back.provenance() and "0.02" in back.provenance()
    exact = Posterior(np.arange(2), np.zeros(2), "exact", sampler_error=SamplerError.unknown())
    assert exact.sampler_error == SamplerError.exact() and exact.method == "enumeration"
    with pytest.raises(ValueError, match="cannot be a bound"):
        SamplerError(None, "x", True)
    with pytest.raises(TypeError, match="sampler_error"):
        Posterior(np.arange(2), np.zeros(2), "samples", sampler_error=0.1)


def _npy_file(path):
    np.save(path.with_suffix(".npy"), np.arange(3))
    return path.with_suffix(".npy")


def _truncated_npz(path):
    good = Posterior.from_samples(np.arange(3)).save(path.with_name("good.npz"))
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _meta_without_kind(path):
    return _write(path, {})


def _meta_not_an_object(path):
    np.savez(path, theories=np.arange(3), log_weights=np.zeros(3), __header__=np.array("[1, 2]"))
    return path


@pytest.mark.parametrize("make", [_npy_file, _truncated_npz, _meta_without_kind, _meta_not_an_object])
def test_load_any_corrupt_file_raises_value_error(tmp_path, make):
    path = make(tmp_path / "corrupt.npz")
    with pytest.raises(ValueError):
        Posterior.load(path)


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "theories, log_weights, match",
    [
        (np.arange(3), np.array([0.0, np.nan, 0.0]), "log_weights"),
        (np.arange(3), np.array([0.0, np.inf, 0.0]), "log_weights"),
        (np.arange(3), np.full(3, -np.inf), "log_weights"),
        (np.arange(4), np.zeros((2, 2)), "log_weights"),
        (np.arange(0), np.zeros(0), "log_weights"),
        (np.arange(4), np.zeros(3), "theories"),
        (np.zeros((2, 3)), np.zeros(3), "theories"),
        (np.float64(1.0), np.zeros(1), "theories"),
    ],
)
def test_bad_inputs_name_the_field(theories, log_weights, match):
    with pytest.raises(ValueError, match=match):
        Posterior(theories, log_weights)


def test_bad_kind_names_the_field():
    with pytest.raises(ValueError, match="kind"):
        Posterior(np.arange(2), np.zeros(2), kind="approximate")


def test_minus_inf_weights_are_allowed():
    post = Posterior(np.arange(3), np.array([-np.inf, 0.0, 0.0]))
    np.testing.assert_allclose(post.probs, [0.0, 0.5, 0.5])


def test_save_load_keeps_theories_ruled_out_and_refuses_nan(tmp_path):
    """-inf log-weights (a theory the data rule out, or one added by search) survive a round trip;
    NaN and +inf do not load."""
    post = Posterior.from_log_weights(
        np.array([[0], [1], [2]]), np.array([0.0, -np.inf, -1.0]), "exact", "demo"
    )
    post.save(tmp_path / "p.npz")
    back = Posterior.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.log_weights, post.log_weights)
    assert back.log_weights[1] == -np.inf
    from bayesguard.posterior import _log_weights

    with pytest.raises(ValueError, match="NaN"):
        Posterior(np.array([[0]]), _log_weights(np.array([np.nan])), "exact", "demo")
