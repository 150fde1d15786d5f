"""Bundles of the bandit and finite guards (and the shipped examples): a loaded bundle gives the fitted
guard's verdicts, tampering is refused naming the file, bad configs name the field."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bayesguard import exact_posterior
from bayesguard.service import build_bundle, fit_guard, load_bundle, parse_config
from bayesguard.service.bundle import bundle_info, manifest_hash, open_bundle

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "bundles"

BANDIT = """
family = "bandit"

[bandit]
n_features = 4
n_actions = 3
sigma = 1.0
harm_threshold = 4.0

[data]
csv = "pulls.csv"

[rule]
threshold = 0.05
alpha = 0.01

[sampler]
seed = 7
"""

FINITE = """
family = "finite"

[finite]
table = [[[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [0, 0, 1]], [[0.5, 0.5, 0], [0, 0.5, 0.5]]]
harmful = [true, false, false]
prior = [0.25, 0.25, 0.5]
theory_names = ["left-kills", "left-cake", "coin"]
action_names = ["left", "right"]
outcome_names = ["death", "cake", "nothing"]

[data]
csv = "doors.csv"

[rule]
threshold = 0.2
alpha = 0.5
"""

ARMS = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)


def _pulls(n: int = 30, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    arms = ARMS[rng.integers(1, 3, size=n)]
    rewards = arms @ np.array([1.0, 0.0, 1.0, 0.0]) + rng.normal(size=n)
    return "f3,f0,f1,f2,reward\n" + "".join(  # any column order
        f"{f[3]:g},{f[0]:g},{f[1]:g},{f[2]:g},{float(r)!r}\n" for f, r in zip(arms, rewards, strict=True)
    )


@pytest.fixture
def bandit(tmp_path):
    (tmp_path / "pulls.csv").write_text(_pulls())
    (tmp_path / "bandit.toml").write_text(BANDIT)
    return tmp_path / "bandit.toml"


@pytest.fixture
def finite(tmp_path):
    (tmp_path / "doors.csv").write_text("action,outcome\nright,cake\n1,1\nleft, death\n")
    (tmp_path / "finite.toml").write_text(FINITE)
    return tmp_path / "finite.toml"


def _contexts(kind: str) -> list:
    if kind == "finite":
        return [None]
    rng = np.random.default_rng(5)
    return [ARMS, np.eye(3, 4), rng.integers(0, 2, size=(3, 4)).astype(float), rng.normal(1.0, 0.5, (3, 4))]


def _verdicts(guard, contexts):
    return [
        (v.action, v.decision.value, v.harm_estimate, v.posterior_harm, v.witness, v.guaranteed, v.reason)
        for c in contexts
        for v in guard.check_all(c)
    ]


@pytest.mark.parametrize("kind", ["bandit", "finite"])
def test_round_trip_gives_the_fitted_guards_verdicts(kind, bandit, finite, tmp_path):
    config = {"bandit": bandit, "finite": finite}[kind]
    fitted = fit_guard(config)
    out = build_bundle(fitted.config, tmp_path / "bundle", fitted=fitted)
    bundle = open_bundle(out)
    contexts = _contexts(kind)
    before, after = _verdicts(fitted.guard, contexts), _verdicts(bundle.guard, contexts)
    assert before == after
    assert len({v[1] for v in before}) >= 2  # several decisions: the comparison is not vacuous
    assert bundle.config == replace(fitted.config, csv=out / "data.csv", source=str(fitted.config.csv))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["family"] == kind and set(manifest["files"]) == {
        "config.toml",
        "data.csv",
        "posterior.npz",
    }
    info = bundle_info(out)
    assert info["family"] == kind and info["bundle_sha256"] == manifest["bundle_sha256"]
    names = ["arm 0", "arm 1", "arm 2"] if kind == "bandit" else ["left", "right"]
    assert info["action_names"] == names and info["n_actions"] == len(names)


def test_the_finite_posterior_is_the_exact_posterior_of_the_csv(finite):
    guard = fit_guard(finite).guard
    # rows: right->cake, right->cake, left->death (names, indices and a padded name)
    from bayesguard import FiniteData

    expected = exact_posterior(guard.family, FiniteData(np.array([1, 1, 0]), np.array([1, 1, 0])))
    np.testing.assert_allclose(guard.posterior.probs, expected.probs)
    # left-kills: 0.25 * 1 * 1 * 1; left-cake is ruled out (right gave cake); coin: 0.5 * 0.5^3
    np.testing.assert_allclose(guard.posterior.probs, [0.25 / 0.3125, 0.0, 0.0625 / 0.3125])


def test_without_data_the_posterior_is_the_prior_and_the_bundle_has_no_data_file(bandit, tmp_path):
    text = BANDIT.replace('[data]\ncsv = "pulls.csv"\n', "")
    (tmp_path / "prior.toml").write_text(text)
    fitted = fit_guard(tmp_path / "prior.toml")
    np.testing.assert_allclose(fitted.posterior.probs, np.full(16, 1 / 16))
    out = build_bundle(fitted.config, tmp_path / "b", fitted=fitted)
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "manifest.json", "posterior.npz"]
    assert _verdicts(load_bundle(out), _contexts("bandit")) == _verdicts(fitted.guard, _contexts("bandit"))


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["bandit", "finite"])
@pytest.mark.parametrize("name", ["config.toml", "data.csv", "posterior.npz", "manifest.json"])
def test_a_changed_byte_is_refused_naming_the_file(kind, name, bandit, finite, tmp_path):
    out = build_bundle({"bandit": bandit, "finite": finite}[kind], tmp_path / "bundle")
    _flip(out / name)
    with pytest.raises(ValueError, match=name):
        load_bundle(out)


def _rehash(out: Path) -> None:
    """Rewrite the manifest so that it matches the files as they are now."""
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in manifest["files"]}
    manifest["bundle_sha256"] = manifest_hash(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_swapped_posterior_with_a_consistent_manifest_is_refused(bandit, tmp_path):
    """Replace the posterior by another valid artefact (the prior) and rehash: the checksums pass, but the
    posterior is not the one the config and data give."""
    fitted = fit_guard(bandit)
    out = build_bundle(fitted.config, tmp_path / "bundle", fitted=fitted)
    exact_posterior(fitted.guard.family).save(out / "posterior.npz")
    _rehash(out)
    with pytest.raises(ValueError, match="posterior.npz: not the exact posterior"):
        load_bundle(out)


def test_a_config_pointing_outside_the_bundle_is_refused(bandit, tmp_path):
    out = build_bundle(bandit, tmp_path / "bundle")
    text = (out / "config.toml").read_text().replace('csv = "data.csv"', 'csv = "../pulls.csv"')
    (out / "config.toml").write_text(text)
    _rehash(out)
    with pytest.raises(ValueError, match="must be 'data.csv'"):
        load_bundle(out)


def test_a_manifest_of_another_family_is_refused(finite, tmp_path):
    out = build_bundle(finite, tmp_path / "bundle")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["family"] = "bandit"
    manifest["bundle_sha256"] = manifest_hash(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="config.toml is family 'finite'"):
        load_bundle(out)


@pytest.mark.parametrize("kind", ["bandit", "finite"])
def test_config_written_to_the_bundle_reads_back_equal(kind, bandit, finite, tmp_path):
    path = {"bandit": bandit, "finite": finite}[kind]
    cfg = parse_config(tomllib.loads(path.read_text()), tmp_path)
    assert parse_config(tomllib.loads(cfg.to_toml()), tmp_path) == cfg
    moved = parse_config(tomllib.loads(cfg.to_toml(csv="data.csv")), tmp_path / "b")
    assert moved.csv == tmp_path / "b" / "data.csv" and moved.source == str(cfg.csv)


BAD_BANDIT = [
    (lambda t: t.replace("n_features = 4\n", ""), "bandit.n_features: required"),
    (lambda t: t.replace("n_features = 4", "n_features = 21"), "bandit.n_features"),
    (lambda t: t.replace("n_features = 4", "n_features = 4.0"), "bandit.n_features"),
    (lambda t: t.replace("sigma = 1.0", "sigma = 0"), "bandit.sigma"),
    (lambda t: t.replace("sigma = 1.0", 'sigma = "one"'), "bandit.sigma"),
    (lambda t: t.replace("harm_threshold = 4.0", "harm_threshold = nan"), "bandit.harm_threshold"),
    (lambda t: t.replace("harm_threshold = 4.0\n", ""), "bandit.harm_threshold"),
    (lambda t: t.replace("[sampler]", '[sampler]\nmethod = "mcmc"'), "sampler.method"),
    (lambda t: t.replace("[sampler]", "[sampler]\nn_steps = 10"), "sampler.n_steps"),
    (lambda t: t.replace("seed = 7", "seed = -1"), "sampler.seed"),
    (lambda t: t + '\n[harm]\nevent = "reward > 4"\n', "harm"),
    (lambda t: t.replace("alpha = 0.01", "alpha = 0"), "rule.alpha"),
    (lambda t: t.replace("alpha = 0.01", "alpha = 0.01\ndelta = 1"), "rule.delta"),
    (lambda t: t.replace('family = "bandit"', 'family = "quantum"'), "config.family"),
    (lambda t: t.replace("pulls.csv", "missing.csv"), "data.csv"),
]


@pytest.mark.parametrize("edit, field", BAD_BANDIT)
def test_a_bad_bandit_config_names_the_field(bandit, tmp_path, edit, field):
    bandit.write_text(edit(BANDIT))
    with pytest.raises(ValueError, match=field):
        build_bundle(bandit, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


BAD_FINITE = [
    (
        lambda t: t.replace("[[0.5, 0.5, 0], [0, 0.5, 0.5]]", "[[0.5, 0.4, 0], [0, 0.5, 0.5]]"),
        r"finite.table\[2\]\[0\]",
    ),
    (
        lambda t: t.replace("[[0.5, 0.5, 0], [0, 0.5, 0.5]]", "[[0.5, 0.5], [0, 0.5, 0.5]]"),
        r"finite.table\[2\]\[0\]",
    ),
    (lambda t: t.replace("[[0.5, 0.5, 0], [0, 0.5, 0.5]]", "[[0.5, 0.5, 0]]"), r"finite.table\[2\]"),
    (
        lambda t: t.replace("[[0.5, 0.5, 0], [0, 0.5, 0.5]]", '[[0.5, 0.5, 0], [0, 0.5, "x"]]'),
        r"finite.table\[2\]\[1\]\[2\]",
    ),
    (lambda t: t.replace("harmful = [true, false, false]", "harmful = [true, false]"), "finite.harmful"),
    (lambda t: t.replace("harmful = [true, false, false]", "harmful = [1, 0, 0]"), "finite.harmful"),
    (lambda t: t.replace("prior = [0.25, 0.25, 0.5]", "prior = [0.25, 0.25, 0.25]"), "finite.prior"),
    (lambda t: t.replace("prior = [0.25, 0.25, 0.5]", "prior = [0.5, 0.5]"), "finite.prior"),
    (lambda t: t.replace('["left", "right"]', '["left"]'), "finite.action_names"),
    (lambda t: t.replace('["left", "right"]', '["left", "left"]'), "finite.action_names"),
    (lambda t: t.replace('"coin"]', "3]"), "finite.theory_names"),
    (lambda t: t.replace("table = ", "tables = "), "finite.tables"),
]


@pytest.mark.parametrize("edit, field", BAD_FINITE)
def test_a_bad_finite_config_names_the_field(finite, tmp_path, edit, field):
    finite.write_text(edit(FINITE))
    with pytest.raises(ValueError, match=field):
        build_bundle(finite, tmp_path / "bundle")


@pytest.mark.parametrize(
    "kind, csv, message",
    [
        ("finite", "action,outcome\nright,cake\nup,cake\n", r"row 2, column action: .*got 'up'"),
        ("finite", "action,outcome\nright,3\n", r"row 1, column outcome: .*index in \[0, 2\], got '3'"),
        ("finite", "action,result\nright,cake\n", r"expected the columns \['action', 'outcome'\]"),
        ("finite", "action,outcome\n", "no rows after the header"),
        ("finite", "action,outcome\nright,death\n", "data.csv: .*rule out all"),
        ("bandit", "f0,f1,f2,f3,reward\n1,0,0,0,nan\n", "row 1, column reward: expected a finite number"),
        ("bandit", "f0,f1,f2,f3,reward\n1,0,0,x,1\n", "row 1, column f3: expected a finite number, got 'x'"),
        ("bandit", "f0,f1,f2,reward\n1,0,0,1\n", "expected the columns"),
        ("bandit", "f0,f1,f2,f3,reward\n1,0,0,0\n", "row 1 has 4 cells, expected 5"),
    ],
)
def test_bad_data_names_the_row_and_column(kind, csv, message, bandit, finite, tmp_path):
    config = {"bandit": bandit, "finite": finite}[kind]
    text = (
        FINITE.replace("prior = [0.25, 0.25, 0.5]", "")
        .replace(', "coin"', "")
        .replace(", [[0.5, 0.5, 0], [0, 0.5, 0.5]]", "")
    )
    if kind == "finite":
        config.write_text(text)
    (tmp_path / ("pulls.csv" if kind == "bandit" else "doors.csv")).write_text(csv)
    with pytest.raises(ValueError, match=message):
        fit_guard(config)


def _make_data():
    spec = importlib.util.spec_from_file_location("make_data", EXAMPLES / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_data_are_what_make_data_writes():
    module = _make_data()
    assert (EXAMPLES / "plant.csv").read_text() == module.plant()
    assert (EXAMPLES / "bandit.csv").read_text() == module.bandit()
    assert len(module.plant().splitlines()) <= 301


def test_the_example_configs_fit_and_their_guards_decide(tmp_path):
    plant = load_bundle(build_bundle(EXAMPLES / "plant.toml", tmp_path / "plant"))
    low, high = plant.check_all({"ambient": -1.5}), plant.check_all({"ambient": 1.0})
    assert [v.decision.value for v in low] == ["ALLOW", "ALLOW"]
    assert [v.decision.value for v in high] == ["ALLOW", "REJECT"]  # opening the valve at high ambient
    doors = load_bundle(build_bundle(EXAMPLES / "finite.toml", tmp_path / "doors.tar"))
    assert [v.decision.value for v in doors.check_all(None)] == ["REJECT", "ALLOW"]
    bandit = load_bundle(build_bundle(EXAMPLES / "bandit.toml", tmp_path / "bandit.tar.gz"))
    verdicts = bandit.check_all(ARMS)  # the all-ones arm explodes half the time on the plausible w = 1111
    assert [v.decision.value for v in verdicts] == ["REJECT", "ALLOW", "ALLOW"]
    assert verdicts[0].harm_estimate == pytest.approx(0.5) and verdicts[0].witness_theory == "w = 1111"
