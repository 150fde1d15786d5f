"""The amortised marginaliser against Monte Carlo with many theories on a fixed, enumerable problem."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bayesguard.marginal.amortised import AmortisedHarm  # noqa: E402
from bayesguard.theories.causal.data import sample_linear_gaussian_scm  # noqa: E402
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
    path = q.save(tmp_path / "q.pt")
    fresh = AmortisedHarm(spec, seed=5).load(path)
    np.testing.assert_allclose(fresh.predict(scm.data[:7, [1]]), q.predict(scm.data[:7, [1]]))
    other = HarmSpec(NAMES, "h > 0", ({},), context=("b",))
    with pytest.raises(ValueError, match="not this spec"):
        AmortisedHarm(other).load(path)


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
