"""The amortised marginaliser against Monte Carlo with many theories on a fixed, enumerable problem; its
files (pickle-free, every field validated on load)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("torch")

from bayesguard.artefact import load_arrays, save_arrays  # noqa: E402
from bayesguard.datasets import sample_linear_gaussian_scm  # noqa: E402
from bayesguard.marginal.amortised import AmortisedHarm, spec_family  # noqa: E402
from bayesguard.theories.causal.harm import HarmSpec  # noqa: E402
from bayesguard.theories.causal.harm_model import GaussianHarmModel  # noqa: E402
from bayesguard.theories.causal.linear_gaussian import sample_parameters  # noqa: E402
from bayesguard.theories.causal.scores import BGeScore  # noqa: E402
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior  # noqa: E402

NAMES = ("a", "b", "h")


@pytest.fixture(scope="module")
def fitted():
    scm = sample_linear_gaussian_scm(3, 20, 2, seed=11)
    score = BGeScore(scm.data)
    post = exact_structure_posterior(StructureScore(score))
    sd = scm.data.std(axis=0)
    harm = f"h > {scm.data[:, 2].mean() + 0.5 * sd[2]:.6f}"
    spec = HarmSpec(NAMES, harm, ({}, {"a": 2 * sd[0]}), context=("b",))

    def draw(rng, n):
        idx = rng.choice(post.n_theories, size=n, p=post.probs)
        return sample_parameters(score, post.theories[idx], rng, NAMES)

    q = AmortisedHarm(spec, seed=0).fit(draw, scm.data[:, [1]], steps=400, batch=512)
    return q, draw, scm, spec, post


def test_amortised_error_against_monte_carlo_is_below_001(fitted):
    q, draw, scm, spec, _ = fitted
    xs = np.quantile(scm.data[:, 1], np.linspace(0.02, 0.98, 15))[:, None]
    # an independent reference: 200,000 posterior theories, the cached harm model, a plain average
    rng = np.random.default_rng(123)
    th = draw(rng, 200_000)
    model = GaussianHarmModel(spec, th)
    mc = np.stack([model.harm({"b": float(x)}).mean(axis=0) for x in xs[:, 0]])  # (15, A)
    err = np.abs(q.predict(xs) - mc)
    assert err.max() < 0.01, err.max()
    # the harm really depends on the context and the action, so the network had something to learn
    assert np.ptp(mc[:, 1]) > 0.1 and np.abs(mc[:, 1] - mc[:, 0]).max() > 0.1
    report = q.validate(draw, xs, n_theories=50_000)
    assert report["max_abs_error"] < 0.01 and q.error_margin == pytest.approx(
        report["max_abs_error"] + report["mc_width"]
    )


def test_predict_single_matches_batch_and_torch(fitted):
    import torch

    q, _, scm, _, _ = fitted
    xs = scm.data[:5, [1]]
    batch = q.predict(xs)
    single = np.stack([q.predict({"b": float(x)}) for x in xs[:, 0]])
    np.testing.assert_allclose(batch, single, atol=1e-12)
    with torch.no_grad():
        ref = torch.sigmoid(q.net(torch.from_numpy((xs - q.x_mean) / q.x_std))).numpy()
    np.testing.assert_allclose(batch, ref, atol=1e-10)
    with pytest.raises(ValueError, match="context"):
        q.predict({"a": 1.0})


def test_save_and_load_roundtrip(fitted, tmp_path):
    q, _, scm, spec, _ = fitted
    path = q.save(tmp_path / "q.npz")
    fresh = AmortisedHarm(spec, seed=5).load(path)
    xs = scm.data[:7, [1]]
    np.testing.assert_array_equal(fresh.predict(xs), q.predict(xs))  # identical, not merely close
    assert fresh.error_margin == q.error_margin
    np.testing.assert_array_equal(fresh.x_std, q.x_std)
    other = HarmSpec(NAMES, "h > 0", ({},), context=("b",))
    with pytest.raises(ValueError, match=r"q\.npz: spec: saved for another harm question.*not this spec"):
        AmortisedHarm(other).load(path)


def small_spec(harm="h > 0.5", action=2.0):
    return HarmSpec(NAMES, harm, ({}, {"a": action}), context=("b",))


def small_network(tmp_path, margin=0.01):
    """An untrained network with a non-trivial input scaling, saved; returns (network, path)."""
    q = AmortisedHarm(small_spec(), hidden=8, layers=2, seed=1)
    q.x_mean, q.x_std = np.array([0.3]), np.array([1.7])
    q.error_margin = margin
    return q, q.save(tmp_path / "q.npz")


def rewrite(path, tmp_path, arrays=None, meta=None, family=None):
    """Re-save with edited fields and a correct checksum, so field validation has to refuse the file."""
    a, head = load_arrays(path, "amortised")
    a.update(arrays or {})
    out = tmp_path / "bad.npz"
    m = {**head["meta"], **(meta or {})}
    save_arrays(out, "amortised", head["version"], a, family=family or head["family"], meta=m)
    return out


class Payload:
    """Unpickling this creates a directory at ``marker``: code run on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("zipped", [True, False])
def test_a_crafted_pickle_file_is_refused_without_running_it(tmp_path, zipped):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "q.pt"
    torch.save({"state": Payload(marker)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(ValueError, match=r"q\.pt: "):
        AmortisedHarm(small_spec(), hidden=8).load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"error_margin": np.array(-0.5)}, r"error_margin: expected a number >= 0, got -0\.5"),
        ({"error_margin": np.array(np.nan)}, r"error_margin: expected finite values"),
        ({"x_std": np.array([0.0])}, r"x_std: expected every input scale > 0"),
        ({"x_std": np.array([-1.0])}, r"x_std: expected every input scale > 0"),
        ({"x_std": np.array([np.inf])}, r"x_std: expected finite values"),
        ({"x_mean": np.array([np.nan])}, r"x_mean: expected finite values"),
        ({"net.0.weight": np.full((8, 1), np.nan)}, r"net\.0\.weight: expected finite values"),
        ({"net.4.bias": np.array([0.0, np.inf])}, r"net\.4\.bias: expected finite values"),
        ({"net.0.weight": np.zeros((9, 1))}, r"net\.0\.weight: expected a float64 array of shape \(8, 1\)"),
        ({"net.0.weight": np.zeros((8, 1), np.float32)}, r"net\.0\.weight: expected a float64 array"),
        ({"x_mean": np.zeros(2)}, r"x_mean: expected a float64 array of shape \(1,\)"),
        ({"payload": np.zeros(2)}, r"unexpected arrays \['payload'\]"),
    ],
)
def test_load_refuses_bad_arrays(tmp_path, arrays, message):
    q, path = small_network(tmp_path)
    bad = rewrite(path, tmp_path, arrays=arrays)
    fresh = AmortisedHarm(small_spec(), hidden=8, seed=2)
    before = fresh.predict({"b": 0.1})
    with pytest.raises(ValueError, match=r"bad\.npz: " + message):
        fresh.load(bad)
    np.testing.assert_array_equal(fresh.predict({"b": 0.1}), before)  # nothing was changed


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"hidden": 16}, r"hidden: saved 16, this network has hidden = 8"),
        ({"hidden": 2**40}, r"hidden: saved 1099511627776"),
        ({"layers": 3}, r"layers: saved 3, this network has layers = 2"),
        ({"layers": True}, r"layers: saved True"),
        ({"has_margin": "yes"}, r"has_margin: expected true or false"),
    ],
)
def test_load_refuses_bad_meta(tmp_path, meta, message):
    _, path = small_network(tmp_path)
    with pytest.raises(ValueError, match=r"bad\.npz: " + message):
        AmortisedHarm(small_spec(), hidden=8).load(rewrite(path, tmp_path, meta=meta))


def test_load_refuses_another_harm_question(tmp_path):
    q, path = small_network(tmp_path)
    # another threshold (also beyond the 6 digits of the printed form), another action, another context
    for other in (
        small_spec(harm="h > 0.50000001"),
        small_spec(action=2.5),
        HarmSpec(NAMES, "h > 0.5", ({}, {"b": 2.0}), context=("a",)),
        HarmSpec(NAMES, "h < 0.5", ({}, {"a": 2.0}), context=("b",)),
    ):
        assert spec_family(other) != q.family
        with pytest.raises(ValueError, match=r"q\.npz: spec: saved for another harm question"):
            AmortisedHarm(other, hidden=8).load(path)
    # a file whose family names this question but whose spec description does not is refused too
    forged = rewrite(path, tmp_path, meta={"spec": AmortisedHarm(small_spec(action=3.0)).describe_spec()})
    with pytest.raises(ValueError, match=r"bad\.npz: spec: saved for another harm question"):
        AmortisedHarm(small_spec(), hidden=8).load(forged)


def test_family_is_stable_and_margin_none_round_trips(tmp_path):
    q, path = small_network(tmp_path)
    assert q.family == spec_family(small_spec()) and q.family.startswith("causal-harm:")
    assert len(q.family) == len("causal-harm:") + 16
    q.error_margin = None
    fresh = AmortisedHarm(small_spec(), hidden=8, seed=9).load(q.save(tmp_path / "none.npz"))
    assert fresh.error_margin is None
    xs = np.linspace(-2, 2, 9)[:, None]
    np.testing.assert_array_equal(fresh.predict(xs), q.predict(xs))
    with np.load(path, allow_pickle=False) as f:  # a plain npz: nothing needs pickle to read it
        assert "error_margin" in f.files


def test_the_guard_uses_the_validated_network(fitted):
    from bayesguard.guard.causal_guard import CausalGuard

    q, draw, scm, spec, post = fitted
    with pytest.raises(ValueError, match="validate"):
        CausalGuard(spec, scm.data, post, amortised=AmortisedHarm(spec))
    q.validate(draw, scm.data[:10, [1]], n_theories=20_000)
    guard = CausalGuard(spec, scm.data, post, amortised=q, threshold=0.2)
    ctx = {"b": float(scm.data[0, 1])}
    v = guard.check(ctx, 1)
    assert v.params["marginaliser"] == "amortised"
    assert v.posterior_harm == pytest.approx(q.predict(ctx)[1])
    assert v.posterior_upper == pytest.approx(min(1.0, q.predict(ctx)[1] + q.error_margin))
