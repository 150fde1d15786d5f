"""Causal bundles with the other samplers (DP, order MCMC, structure MCMC with an in-degree bound,
GFlowNet) and with an amortised harm network: each round-trips to the fitted guard's verdicts, keeps the
provenance its sampler reports, saves its networks (``gflownet.npz``, ``amortised.npz``) checksummed and
refuses a changed, missing or extra one naming the file; bad ``[sampler]`` / ``[amortised]`` fields are
named. Tiny budgets, d = 4 (torch pinned to one thread by conftest)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tarfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from bayesguard.inference.exact import exact_structure_posterior  # noqa: E402
from bayesguard.posterior import Posterior  # noqa: E402
from bayesguard.service import build_bundle, fit_guard, load_bundle, parse_config, verify_bundle  # noqa: E402
from bayesguard.service.bundle import manifest_hash, open_bundle  # noqa: E402
from bayesguard.service.fit_samplers import DP_MAX_BYTES, dp_memory_bytes  # noqa: E402

BASE = """
[data]
csv = "plant.csv"

[harm]
event = "pressure > 2.0"
actions = [{}, {valve = 2.5}]
context = ["ambient"]

[rule]
threshold = 0.1
alpha = 0.001
"""
SAMPLERS = {
    "dp": 'method = "dp"\nn_draws = 400\nseed = 1\n',
    "order-mcmc": 'method = "order-mcmc"\nn_steps = 300\nn_chains = 2\nmax_parents = 2\n',
    "mcmc": 'method = "mcmc"\nn_steps = 400\nn_chains = 2\nmax_parents = 2\nseconds = 30.0\n',
    "gflownet": 'method = "gflownet"\nn_steps = 150\nn_draws = 300\nhidden = 16\nlayers = 1\n',
}
AMORTISED = """
[amortised]
hidden = 8
layers = 1
steps = 150
batch = 128
validation_contexts = 12
validation_theories = 400
"""
CONTEXTS = (-2.0, -0.5, 0.5, 2.0)


def _plant(n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ambient, valve = rng.normal(size=n), rng.normal(size=n)
    pressure = 0.7 * ambient + 0.6 * valve + 0.5 * rng.normal(size=n)
    temp = 0.6 * pressure + 0.8 * rng.normal(size=n)
    return pd.DataFrame({"ambient": ambient, "valve": valve, "pressure": pressure, "temp": temp})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("world")
    _plant().to_csv(work / "plant.csv", index=False)
    return work


def _config(work: Path, name: str, text: str) -> Path:
    path = work / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def fitted(world):
    """Every sampler's fitted guard, and the exact sampler with [amortised]."""
    out = {name: fit_guard(_config(world, name, BASE + "\n[sampler]\n" + s)) for name, s in SAMPLERS.items()}
    am = BASE + '\n[sampler]\nmethod = "exact"\n' + AMORTISED
    out["amortised"] = fit_guard(_config(world, "amortised", am))
    return out


def _verdicts(guard):
    return [
        (v.action, v.decision.value, v.harm_estimate, v.posterior_harm, v.witness, v.guaranteed)
        for c in CONTEXTS
        for v in guard.check_all({"ambient": c})
    ]


def _same(before, after):
    assert [(a, d, w, g) for a, d, _, _, w, g in before] == [(a, d, w, g) for a, d, _, _, w, g in after]
    np.testing.assert_allclose([b[2:4] for b in before], [a[2:4] for a in after], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_sampler_fits_and_round_trips(fitted, tmp_path, name):
    fit = fitted[name]
    post = fit.posterior
    assert post.method == {"dp": "dp-weighted"}.get(name, name) and not post.is_exact
    # the provenance is what the sampler reports: measured (against the exact DP, or for the GFlowNet its
    # exact sampler law at d = 4), and a bound only where it was computed exactly
    assert post.sampler_error.known and post.sampler_error.is_bound == (name == "gflownet")
    out = build_bundle(fit.config, tmp_path / "b", fitted=fit)
    files = set(verify_bundle(out)["files"])
    assert files == {"config.toml", "data.csv", "posterior.npz"} | (
        {"gflownet.npz"} if name == "gflownet" else set()
    )
    bundle = open_bundle(out)
    before, after = _verdicts(fit.guard), _verdicts(bundle.guard)
    _same(before, after)
    assert np.ptp([p for _, _, _, p, *_ in before]) > 0.05  # not vacuous: the harm moves with the context
    saved = Posterior.load(out / "posterior.npz")
    assert saved.sampler_error == post.sampler_error and saved.method == post.method
    np.testing.assert_array_equal(saved.theories, post.theories)
    assert dataclasses.replace(bundle.config, csv=fit.config.csv, source=None) == fit.config
    if name == "gflownet":  # the trained policy itself was saved: it samples the same graphs
        assert bundle.gflownet is not None and bundle.gflownet.steps == fit.gflownet.steps
        np.testing.assert_array_equal(bundle.gflownet.sample(50, seed=3), fit.gflownet.sample(50, seed=3))
    else:
        assert bundle.gflownet is None


def test_the_amortised_bundle_round_trips(fitted, tmp_path):
    fit = fitted["amortised"]
    out = build_bundle(fit.config, tmp_path / "b", fitted=fit)
    manifest = verify_bundle(out)
    digest = hashlib.sha256((out / "amortised.npz").read_bytes()).hexdigest()
    assert manifest["files"]["amortised.npz"] == digest and "gflownet.npz" not in manifest["files"]
    guard = load_bundle(out)
    net, fitted_net = guard.bound.amortised, fit.guard.bound.amortised
    assert net is not None and net.error_margin == fitted_net.error_margin > 0
    xs = np.linspace(-2, 2, 9)[:, None]
    np.testing.assert_array_equal(net.predict(xs), fitted_net.predict(xs))
    before, after = _verdicts(fit.guard), _verdicts(guard)
    _same(before, after)
    assert not any(g for *_, g in after)  # an amortised bound is empirical: never guaranteed
    assert guard.params["marginaliser"] == "amortised"


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz"])
@pytest.mark.parametrize("name", ["amortised", "gflownet"])
def test_archives_carry_the_networks(fitted, tmp_path, name, suffix):
    fit = fitted[name]
    out = build_bundle(fit.config, tmp_path / f"g{suffix}", fitted=fit)
    with tarfile.open(out) as tar:
        assert f"{name}.npz" in tar.getnames()
    _same(_verdicts(fit.guard), _verdicts(load_bundle(out)))


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _rehash(out: Path, drop: str | None = None, add: str | None = None) -> None:
    """Rewrite the manifest consistently, without ``drop`` or with ``add`` listed."""
    m = json.loads((out / "manifest.json").read_text())
    m["files"].pop(drop, None)
    if add:
        m["files"][add] = hashlib.sha256((out / add).read_bytes()).hexdigest()
    m["bundle_sha256"] = manifest_hash(m)
    (out / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("name", ["amortised", "gflownet"])
def test_a_changed_missing_or_unlisted_network_is_refused_naming_the_file(fitted, tmp_path, name):
    fit, file = fitted[name], f"{name}.npz"
    out = build_bundle(fit.config, tmp_path / "b", fitted=fit)
    _flip(out / file)
    with pytest.raises(ValueError, match=f"{file}: SHA-256 does not match"):
        load_bundle(out)
    (out / file).unlink()
    with pytest.raises(ValueError, match=f"{file}: listed in the manifest but missing"):
        load_bundle(out)
    _rehash(out, drop=file)  # a consistent manifest without it: the config still needs it
    with pytest.raises(ValueError, match=f"{file}: config.toml needs it"):
        load_bundle(out)
    # an unlisted network beside a bundle that has no use for it
    plain = build_bundle(fitted["mcmc"].config, tmp_path / "plain", fitted=fitted["mcmc"])
    other = build_bundle(fit.config, tmp_path / "other", fitted=fit)
    shutil.copy(other / file, plain / file)
    with pytest.raises(ValueError, match=f"{file}: not listed in the manifest"):
        load_bundle(plain)
    _rehash(plain, add=file)
    with pytest.raises(ValueError, match=f"{file}: listed in the manifest, config.toml has no use"):
        load_bundle(plain)


def test_a_network_resaved_with_a_consistent_manifest_is_still_checked(fitted, tmp_path):
    """A network of the wrong size under a rewritten manifest fails its own validation, naming it."""
    fit = fitted["amortised"]
    out = build_bundle(fit.config, tmp_path / "b", fitted=fit)
    text = (out / "config.toml").read_text().replace("hidden = 8", "hidden = 9")
    (out / "config.toml").write_text(text)
    _rehash(out, add="config.toml")
    with pytest.raises(ValueError, match="amortised.npz"):
        load_bundle(out)


def test_the_dp_posterior_matches_the_exact_one_at_d4(fitted, world):
    """The DP sampler's stated error is its edge-marginal distance to the exact enumerated posterior (to
    float error), and it is small; its graphs are DAGs the exact posterior knows."""
    fit = fitted["dp"]
    exact = exact_structure_posterior(fit.guard.family.score)
    p_exact = np.einsum("n,nij->ij", exact.probs, np.asarray(exact.theories, dtype=float))
    dp = fit.posterior
    p_dp = np.einsum("n,nij->ij", dp.probs, np.asarray(dp.theories, dtype=float))
    assert dp.sampler_error.tv == pytest.approx(np.abs(p_dp - p_exact).max(), abs=1e-9)
    assert dp.sampler_error.tv < 0.1 and not dp.sampler_error.is_bound
    known = {g.tobytes() for g in np.asarray(exact.theories, dtype=bool)}
    assert all(g.tobytes() in known for g in np.asarray(dp.theories, dtype=bool))


@pytest.mark.parametrize("name", [*SAMPLERS, "amortised"])
def test_the_config_written_to_the_bundle_reads_back_equal(fitted, tmp_path, name):
    cfg = fitted[name].config
    assert parse_config(tomllib.loads(cfg.to_toml()), tmp_path) == cfg


BAD = [
    ('method = "nuts"', "sampler.method: expected one of"),
    ('method = "exact"\nseconds = 5.0', "sampler.seconds: the 'exact' sampler does not take it"),
    ('method = "mcmc"\nn_draws = 10', "sampler.n_draws: the 'mcmc' sampler does not take it"),
    ('method = "dp"\nhidden = 10', "sampler.hidden: the 'dp' sampler does not take it"),
    ('method = "exact"\nmax_parents = 2', "sampler.max_parents: the 'exact' sampler"),
    ('method = "dp"\nmax_parents = 0', "sampler.max_parents: expected an integer >= 1"),
    ('method = "gflownet"\nseconds = -1.0', "sampler.seconds: expected a positive finite number"),
    ('method = "mcmc"\nthin = 3', "sampler.thin: unknown field"),
]


@pytest.mark.parametrize("sampler, message", BAD)
def test_a_bad_sampler_field_is_named(world, sampler, message):
    with pytest.raises(ValueError, match=message):
        parse_config(tomllib.loads(BASE + "\n[sampler]\n" + sampler), world)


def test_bad_amortised_sections_are_named(world):
    with pytest.raises(ValueError, match="amortised.epochs: unknown field"):
        parse_config(tomllib.loads(BASE + "\n[amortised]\nepochs = 3\n"), world)
    with pytest.raises(ValueError, match="amortised.hidden: expected an integer >= 1"):
        parse_config(tomllib.loads(BASE + "\n[amortised]\nhidden = 0\n"), world)
    discrete = BASE.replace('csv = "plant.csv"', 'csv = "plant.csv"\nkind = "discrete"')
    with pytest.raises(ValueError, match="amortised: .*continuous .*data.kind is 'discrete'"):
        parse_config(tomllib.loads(discrete + "\n[amortised]\n"), world)
    no_context = BASE.replace('context = ["ambient"]', "context = []")
    with pytest.raises(ValueError, match="amortised: .*harm.context is empty"):
        parse_config(tomllib.loads(no_context + "\n[amortised]\n"), world)


def _wide(work: Path, d: int) -> Path:
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(60, d)), columns=[f"x{i}" for i in range(d)]).to_csv(
        work / "wide.csv", index=False
    )
    return work / "wide.csv"


def test_exact_and_dp_refuse_what_they_cannot_hold(tmp_path):
    _wide(tmp_path, 6)
    head = '[data]\ncsv = "wide.csv"\n[harm]\nevent = "x5 > 1"\nactions = [{}]\n'
    with pytest.raises(ValueError, match="sampler.method: 'exact' enumerates DAGs on d <= 5 .* d = 6"):
        fit_guard(_config(tmp_path, "e", head))
    _wide(tmp_path, 24)
    head = head.replace("x5", "x23")
    with pytest.raises(
        ValueError, match=r"sampler.max_parents: the DP at d = 24 with max_parents = 23 needs"
    ):
        fit_guard(_config(tmp_path, "d", head + '[sampler]\nmethod = "dp"\nmax_parents = 23\n'))
    _wide(tmp_path, 25)
    with pytest.raises(ValueError, match="sampler.method: 'dp' runs on d <= 24"):
        fit_guard(_config(tmp_path, "d", head + '[sampler]\nmethod = "dp"\nmax_parents = 2\n'))
    # the estimate grows with d and the bound; at d = 20 the reweighting of 1000 draws alone is too much
    assert dp_memory_bytes(16, None) < DP_MAX_BYTES < dp_memory_bytes(20, 3)
    assert dp_memory_bytes(12, 2) < dp_memory_bytes(12, None) < dp_memory_bytes(13, None)


def test_the_amortised_example_fits_and_decides(tmp_path):
    examples = Path(__file__).resolve().parents[1] / "examples" / "bundles"
    bundle = open_bundle(build_bundle(examples / "plant_amortised.toml", tmp_path / "plant.tar.gz"))
    assert {"amortised.npz", "posterior.npz"} <= set(bundle.manifest["files"])
    net = bundle.guard.bound.amortised
    assert 0 < net.error_margin < 0.05  # validated: the network is close to Monte Carlo
    low, high = bundle.guard.check_all({"ambient": -1.5}), bundle.guard.check_all({"ambient": 1.0})
    assert [v.decision.value for v in low] == ["ALLOW", "ALLOW"]
    assert high[1].decision.value == "REJECT"  # opening the valve at high ambient, as plant.toml
