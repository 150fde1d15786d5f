"""Guard bundles: a loaded bundle gives the fitted guard's verdicts; any tampering is refused naming the
file; bad configs name the field; writes are atomic; ``bayesguard fit`` builds one from a TOML and a CSV."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib

import numpy as np
import pandas as pd
import pytest

from bayesguard.cli import main
from bayesguard.posterior import Posterior
from bayesguard.service import build_bundle, fit_guard, load_bundle, parse_config, verify_bundle

CONFIG = """
[data]
csv = "plant.csv"

[harm]
event = "pressure > 1.5"
actions = [{}, {valve = 3.0}, {valve = -1.0}]
action_names = ["do nothing", "open", "close"]
context = ["ambient"]

[rule]
threshold = 0.05
alpha = 0.001
"""


def _plant(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ambient = rng.normal(size=n)
    pressure = 0.7 * ambient + 0.7 * rng.normal(size=n)
    valve = 0.8 * pressure + 0.6 * rng.normal(size=n)
    return pd.DataFrame({"valve": valve, "pressure": pressure, "ambient": ambient})


@pytest.fixture
def config(tmp_path):
    _plant().to_csv(tmp_path / "plant.csv", index=False)
    path = tmp_path / "guard.toml"
    path.write_text(CONFIG)
    return path


def _verdicts(guard, contexts):
    return [
        (v.action, v.decision.value, v.harm_estimate, v.posterior_harm, v.witness, v.guaranteed)
        for c in contexts
        for v in guard.check_all({"ambient": c})
    ]


CONTEXTS = (-1.5, 0.0, 0.8, 2.0)


@pytest.mark.parametrize("extra", ["", '\n[sampler]\nmethod = "mcmc"\nn_steps = 400\nn_chains = 2\n'])
def test_round_trip_gives_the_fitted_guards_verdicts(config, tmp_path, extra):
    config.write_text(CONFIG + extra)
    fitted = fit_guard(config)
    out = build_bundle(fitted.config, tmp_path / "bundle", fitted=fitted)
    loaded = load_bundle(out)
    before, after = _verdicts(fitted.guard, CONTEXTS), _verdicts(loaded, CONTEXTS)
    # decisions, witnesses and guarantees identical; numbers equal up to the reload's renormalisation of
    # the log-weights (Posterior subtracts their logsumexp again: a few ulp)
    assert [(a, d, w, g) for a, d, _, _, w, g in before] == [(a, d, w, g) for a, d, _, _, w, g in after]
    np.testing.assert_allclose([b[2:4] for b in before], [a[2:4] for a in after], rtol=1e-12, atol=1e-15)
    assert len({d for _, d, *_ in before}) >= 2  # the check is not vacuous: several decisions occur
    saved = Posterior.load(out / "posterior.npz")
    np.testing.assert_array_equal(saved.theories, fitted.posterior.theories)
    np.testing.assert_allclose(saved.log_weights, fitted.posterior.log_weights, rtol=1e-13, atol=0)
    assert saved.sampler_error == fitted.posterior.sampler_error
    if extra:  # MCMC: its error was measured against the exact DP when fitted, and kept
        assert saved.kind == "samples" and saved.sampler_error.known
    # the bundle's data is a byte copy; the manifest's hashes are the files' SHA-256
    assert (out / "data.csv").read_bytes() == (tmp_path / "plant.csv").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    body = {k: v for k, v in manifest.items() if k != "bundle_sha256"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert manifest["bundle_sha256"] == hashlib.sha256(canon).hexdigest()
    assert set(p.name for p in tmp_path.iterdir()) == {
        "plant.csv",
        "guard.toml",
        "bundle",
    }  # no temp dir left


def test_config_written_to_the_bundle_reads_back_equal(config, tmp_path):
    cfg = parse_config(tomllib.loads(CONFIG), tmp_path)
    again = parse_config(tomllib.loads(cfg.to_toml()), tmp_path)
    assert again == cfg
    moved = parse_config(tomllib.loads(cfg.to_toml(csv="data.csv")), tmp_path / "b")
    assert moved.csv == tmp_path / "b" / "data.csv" and moved.source == str(cfg.csv)


@pytest.fixture
def bundle(config, tmp_path):
    return build_bundle(config, tmp_path / "bundle")


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["config.toml", "data.csv", "posterior.npz", "manifest.json"])
def test_a_changed_byte_is_refused_naming_the_file(bundle, name):
    _flip(bundle / name)
    with pytest.raises(ValueError, match=name):
        load_bundle(bundle)


@pytest.mark.parametrize("name", ["config.toml", "data.csv", "posterior.npz", "manifest.json"])
def test_a_missing_file_is_refused_naming_it(bundle, name):
    (bundle / name).unlink()
    with pytest.raises(ValueError, match=name):
        load_bundle(bundle)


def test_an_unlisted_file_is_refused_naming_it(bundle):
    (bundle / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        load_bundle(bundle)


def test_an_edited_manifest_is_refused(bundle):
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["created"] = "2000-01-01T00:00:00+00:00"  # valid JSON, stale bundle hash
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest.json.*bundle_sha256"):
        verify_bundle(bundle)


def test_a_file_swapped_with_a_consistent_manifest_hash_still_fails_its_own_checksum(bundle, tmp_path):
    """Rewriting the manifest's file hashes and its bundle hash passes the manifest check, but the
    posterior artefact carries its own checksum: a flipped byte in an array is still refused."""
    from bayesguard.service.bundle import manifest_hash

    post = bundle / "posterior.npz"
    _flip(post)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["posterior.npz"] = hashlib.sha256(post.read_bytes()).hexdigest()
    manifest["bundle_sha256"] = manifest_hash(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    verify_bundle(bundle)  # the manifest is consistent now
    with pytest.raises(ValueError, match="posterior.npz"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda t: t.replace('event = "pressure > 1.5"\n', ""), "harm.event"),
        (lambda t: t.replace("alpha = 0.001", 'alpha = "small"'), "rule.alpha"),
        (lambda t: t.replace("alpha = 0.001", "alpha = 0"), "rule.alpha"),
        (lambda t: t.replace("threshold = 0.05", "threshold = 1.5"), "rule.threshold"),
        (lambda t: t + '\n[sampler]\nmethod = "gibbs"\n', "sampler.method"),
        (lambda t: t + "\n[sampler]\nn_steps = 0\n", "sampler.n_steps"),
        (lambda t: t + "\n[sampler]\nburn = 3\n", "sampler.burn"),
        (lambda t: t + "\n[server]\nport = 1\n", "server"),
        (lambda t: t.replace("actions = [", "actions = 3 #"), "harm.actions"),
        (lambda t: t.replace("plant.csv", "missing.csv"), "data.csv"),
        (lambda t: t.replace("pressure > 1.5", "temperature > 1.5"), "harm"),
        (lambda t: t.replace("{valve = 3.0}", "{valve = 3.0, nozzle = 1}"), r"actions\[1\]"),
        (lambda t: t + '\n[prior]\nkind = "erdos-renyi"\n', "prior.expected_edges"),
        (lambda t: t.replace('"do nothing", "open"', '"open", "open"'), "harm.action_names"),
        (lambda t: t.replace('csv = "plant.csv"', 'csv = "plant.csv"\nsource = 3'), "data.source"),
        (lambda t: t.replace("threshold = 0.05", "threshold = 0.05\ndelta = 1.0"), "rule.delta"),
    ],
)
def test_a_bad_config_names_the_field(config, tmp_path, edit, field):
    config.write_text(edit(CONFIG))
    with pytest.raises(ValueError, match=field):
        build_bundle(config, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_a_failed_write_leaves_nothing_and_an_existing_bundle_is_kept(config, tmp_path, monkeypatch):
    out = build_bundle(config, tmp_path / "bundle")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match="already exists"):
        build_bundle(config, out)

    def broken(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(Posterior, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        build_bundle(config, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "guard.toml", "plant.csv"]
    load_bundle(out)


def test_discrete_guard_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    n = 300
    season = rng.choice(["dry", "wet"], n)
    dose = rng.choice(["low", "high"], n)
    p_sick = np.where(dose == "high", 0.6, 0.1) + np.where(season == "wet", 0.2, 0.0)
    status = np.where(rng.random(n) < p_sick, "sick", "ok")
    pd.DataFrame({"season": season, "dose": dose, "status": status}).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "g.toml").write_text(
        '[data]\ncsv = "t.csv"\nkind = "discrete"\n'
        '[harm]\nevent = "status == \'sick\'"\nactions = [{dose = "low"}, {dose = "high"}]\n'
        'context = ["season"]\n[rule]\nthreshold = 0.3\n'
    )
    fitted = fit_guard(tmp_path / "g.toml")
    loaded = load_bundle(build_bundle(fitted.config, tmp_path / "b", fitted=fitted))
    for season_value in ("dry", "wet"):
        a = [(v.decision, v.harm_estimate) for v in fitted.guard.check_all({"season": season_value})]
        b = [(v.decision, v.harm_estimate) for v in loaded.check_all({"season": season_value})]
        assert a == b


def test_cli_fit_builds_a_bundle_and_prints_its_hash(config, tmp_path, capsys):
    out = tmp_path / "served"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    manifest = verify_bundle(out)
    assert f"bundle sha256 {manifest['bundle_sha256']}" in text
    assert "do nothing" in text and "open" in text and "25 graphs on d = 3" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "config.toml",
        "data.csv",
        "manifest.json",
        "posterior.npz",
    ]
    with pytest.raises(SystemExit) as exc:  # an existing bundle is not overwritten without --overwrite
        main(["fit", str(config), "--out", str(out)])
    assert exc.value.code == 2 and "already exists" in capsys.readouterr().err
    assert main(["fit", str(config), "--out", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "version",
            2,
            "holds 'bayesguard.bundle' version 2; this reader knows 'bayesguard.bundle' version 1 only",
        ),
        ("family", "quantum", "unknown family 'quantum'"),
        ("files", {"config.toml": "0" * 64}, "files must list"),
    ],
)
def test_an_unknown_version_family_or_file_list_is_refused_clearly(bundle, field, value, message):
    from bayesguard.service.bundle import manifest_hash

    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = value
    manifest["bundle_sha256"] = manifest_hash(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_bundle(bundle)


def test_cli_fit_writes_an_archive(config, tmp_path, capsys):
    out = tmp_path / "guard.tar.gz"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    manifest = verify_bundle(out)
    assert f"bundle sha256 {manifest['bundle_sha256']}" in capsys.readouterr().out
    assert _verdicts(load_bundle(out), CONTEXTS) == _verdicts(fit_guard(config).guard, CONTEXTS)
