"""The guard's support check: a context outside what the data support is ASKed, never ALLOWed (the
issue's defect cases: a causal guard fitted near 0 checked at z = -1e300, a bandit arm of -1e300);
NaN / inf contexts never ALLOW for any family; contexts like the data are unaffected; errors fail closed;
the support record survives the audit log, and old records without it still load."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bayesguard import BanditData, FiniteData, Guard, LinearBanditFamily, exact_posterior
from bayesguard.experiments.two_doors import two_doors_family
from bayesguard.guard import read_audit_log
from bayesguard.guard.causal_guard import CausalGuard
from bayesguard.guard.support import OOD_SUGGESTION, SupportConfig
from bayesguard.guard.verdict import Decision, Verdict
from bayesguard.theories.causal import CausalFamily, HarmSpec, StructurePrior, exact_structure_posterior

NAMES = ("a", "h", "z")


@pytest.fixture(scope="module")
def causal():
    """Linear-Gaussian data near 0 with a context z ~ N(0, 1); at C = 0.5 both actions are allowed at
    z = 0.5 (checked below), so the support check is what turns an ALLOW into an ASK."""
    rng = np.random.default_rng(1)
    n = 300
    h = rng.normal(size=n)
    x = np.c_[0.8 * h + 0.6 * rng.normal(size=n), h, rng.normal(size=n)]
    spec = HarmSpec(NAMES, "h > 1.5", ({}, {"a": 2.0}), context=("z",))
    prior = StructurePrior.make(NAMES, forbidden=[("a", "z"), ("h", "z")])
    family = CausalFamily(spec, x, prior, n_param_draws=4)
    return family, exact_structure_posterior(family.score), x


def _guard(causal, **kw):
    family, post, _ = causal
    return Guard(family, post, "cautious", 0.5, alpha=0.01, **kw)


@pytest.mark.parametrize("z", [-1e300, 1e300, 1e6, -40.0])
def test_causal_context_far_from_the_data_is_asked_never_allowed(causal, z):
    guard = _guard(causal)
    verdicts = guard.check_all({"z": z}) + [guard.check({"z": z}, a) for a in range(2)]
    if z == 1e6:  # without the check this context is ALLOWed: the check is what changes it
        off = _guard(causal, support=SupportConfig(enabled=False)).check_all({"z": z})
        assert any(v.decision is Decision.ALLOW for v in off)
    for v in verdicts:
        assert v.decision is Decision.ASK
        assert v.reason.startswith(f"context outside the data's support: z = {z:.4g} (mahalanobis score")
        sup = v.support
        assert not sup["in_support"] and sup["outside"] == ["z"] and sup["n_train"] == 300
        assert sup["score"] > sup["threshold"] and sup["kind"] == "mahalanobis" and sup["fpr"] == 0.01
        assert v.suggestion == OOD_SUGGESTION
        assert "OUTSIDE the data's support" in v.explain()


def test_causal_guard_constructor_checks_support_too(causal):
    family, post, x = causal
    guard = CausalGuard(family.spec, x, post, prior=family.prior, threshold=0.5, n_param_draws=4)
    v = guard.check({"z": -1e300}, 0)
    assert v.decision is Decision.ASK and "z = -1e+300" in v.reason


def test_contexts_like_the_data_are_unaffected(causal):
    _, _, x = causal
    on, off = _guard(causal), _guard(causal, support=SupportConfig(enabled=False))
    for z in np.quantile(x[:, 2], [0.05, 0.3, 0.5, 0.7, 0.95]):
        for v, w in zip(on.check_all({"z": float(z)}), off.check_all({"z": float(z)}), strict=True):
            assert v.support["in_support"] and v.support["score"] <= v.support["threshold"]
            assert v.decision == w.decision and v.reason == w.reason and w.support is None
    assert on.check({"z": 0.5}, 1).decision is Decision.ALLOW


def test_range_check_flags_what_the_distance_cannot_calibrate(causal):
    family, post, _ = causal
    few = CausalFamily(family.spec, family.data.values[:10], family.prior, n_param_draws=4)
    guard = Guard(few, exact_structure_posterior(few.score), "cautious", 0.5, alpha=0.01)
    lo, hi = few.data.values[:, 2].min(), few.data.values[:, 2].max()
    inside = guard.check({"z": float(hi + 0.4 * (hi - lo))}, 0).support
    outside = guard.check({"z": float(hi + 0.6 * (hi - lo))}, 0)
    assert inside["in_support"] and inside["kind"] == "range" and inside["score"] is None
    assert outside.decision is not Decision.ALLOW and "widened by 50% each side" in outside.reason


def test_knn_score_no_ask_guards_and_the_unguarded_baseline(causal):
    v = _guard(causal, support=SupportConfig(score="knn", k=3)).check({"z": 1e6}, 0)
    assert v.decision is Decision.ASK and v.support["kind"] == "knn"
    assert _guard(causal, ask=False).check({"z": 1e6}, 0).decision is Decision.REJECT
    family, post, x = causal
    unguarded = Guard(family, post, "none", 0.5).check({"z": 1e6}, 0)  # an evaluation baseline
    assert unguarded.decision is Decision.ALLOW and not unguarded.support["in_support"]
    strict = CausalGuard(
        family.spec,
        x,
        post,
        prior=family.prior,
        threshold=0.5,
        n_param_draws=4,
        support=SupportConfig(score="range", margin=0.0),
    )
    v = strict.check({"z": float(x[:, 2].max()) + 0.01}, 0)
    assert v.decision is not Decision.ALLOW and v.support["kind"] == "range"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_contexts_never_allow_for_any_family(causal, bad):
    verdicts = _guard(causal).check_all({"z": bad})
    fam = LinearBanditFamily(n_features=3, n_actions=2)
    arms = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, bad]])
    verdicts += Guard(fam, exact_posterior(fam), "cautious", 0.5).check_all(arms)
    doors = two_doors_family()  # a table ignores its context, but a non-finite one is still refused
    verdicts += Guard(doors, exact_posterior(doors), "cautious", 0.5).check_all({"reading": bad})
    verdicts.append(Guard(doors, exact_posterior(doors), "cautious", 0.5).check(np.array([1.0, bad]), 1))
    for v in verdicts:
        assert v.decision is not Decision.ALLOW
        assert "NaN or infinite" in v.reason or "finite number" in v.reason


@pytest.fixture(scope="module")
def bandit():
    fam = LinearBanditFamily(n_features=3, n_actions=3, sigma=1.0, harm_threshold=4.0)
    rng = np.random.default_rng(0)
    feats = rng.integers(0, 2, (60, 3)).astype(float)
    data = BanditData(feats, feats @ np.array([1.0, 0.0, 1.0]) + rng.normal(size=60))
    arms = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    return fam, data, arms


def test_bandit_arm_of_minus_1e300_is_asked_never_allowed(bandit):
    fam, data, arms = bandit
    guard = Guard(fam, exact_posterior(fam, data), "cautious", 0.05, support=SupportConfig(contexts=data))
    plain = guard.check_all(arms)
    assert all(v.decision is Decision.ALLOW and v.support["in_support"] for v in plain)
    far = arms.copy()
    far[1, 0] = -1e300
    v0, v1, v2 = guard.check_all(far)
    assert v1.decision is Decision.ASK and not v1.support["in_support"]
    assert v1.reason.startswith("action 1's context outside the data's support: x[0] = -1e+300")
    assert v0.decision is v2.decision is Decision.ALLOW  # the other arms are as before
    assert guard.check(far, 1).decision is Decision.ASK


def test_bandit_support_grows_with_observed_pulls(bandit):
    fam, data, arms = bandit
    guard = Guard(fam, exact_posterior(fam), "cautious", 0.05, support=SupportConfig(enabled=True))
    before = guard.check_all(arms)
    assert all(v.decision is not Decision.ALLOW for v in before)
    assert "no training contexts" in before[0].reason
    guard.observe(data)
    after = guard.check_all(arms)
    assert all(v.support["in_support"] and v.support["n_train"] == 60 for v in after)
    assert any(v.decision is Decision.ALLOW for v in after)


def test_discrete_context_never_seen_is_asked():
    rng = np.random.default_rng(2)
    n = 400
    a, z = rng.integers(0, 2, n), rng.integers(0, 2, n)  # z = 2 is a category the data never show
    h = (rng.random(n) < np.where(a == 1, 0.3, 0.02)).astype(int)
    cats = ((0, 1), (0, 1), (0, 1, 2))
    spec = HarmSpec(NAMES, "h == 1", ({}, {"a": 0}), context=("z",), categories=cats)
    fam = CausalFamily(spec, np.c_[a, h, z].astype(float))
    guard = Guard(fam, exact_structure_posterior(fam.score), "cautious", 0.5)
    seen = guard.check_all({"z": 1})
    assert all(v.support["in_support"] for v in seen) and any(v.allowed for v in seen)
    for v in guard.check_all({"z": 2}):
        assert v.decision is not Decision.ALLOW and "never occurs together in the data" in v.reason


class _Broken:
    """A family whose support features fail: the guard must fail closed."""

    def __init__(self, family):
        self._f = family
        self.name, self.n_actions = family.name, family.n_actions

    def __getattr__(self, item):
        return getattr(self._f, item)

    def support_features(self, context):
        raise RuntimeError("sensor offline")


def test_an_error_in_the_support_check_fails_closed():
    doors = two_doors_family()
    guard = Guard(_Broken(doors), exact_posterior(doors), "cautious", 0.5)
    for v in guard.check_all(None) + [guard.check(None, 1)]:
        assert v.decision is Decision.REJECT and "sensor offline" in v.reason


class _Plugged:
    """Any family can plug in its training contexts (e.g. a reward family's feature vectors)."""

    def __init__(self, family, train):
        self._f, self.train = family, train
        self.name, self.n_actions = family.name, family.n_actions
        self.support_names = ("speed", "load")

    def __getattr__(self, item):
        return getattr(self._f, item)

    def harm_prob(self, theories, context=None, action=None):  # the table's harm, whatever the context
        return self._f.harm_prob(theories, None, action)

    def support_data(self):
        return self.train

    def support_features(self, context):
        return np.asarray(context, dtype=float)[None]


def test_a_family_plugs_in_its_own_support():
    doors = two_doors_family()
    train = np.random.default_rng(3).normal(size=(200, 2))
    guard = Guard(_Plugged(doors, train), exact_posterior(doors), "cautious", 0.5)
    ok = guard.check([0.1, -0.2], 1)
    far = guard.check([0.1, 25.0], 1)
    assert ok.decision is Decision.ALLOW and ok.support["in_support"]
    assert far.decision is Decision.ASK and "load = 25" in far.reason and "speed" not in far.reason
    assert far.support["outside"] == ["load"]
    odd = guard.check([2.5, -2.5], 1)  # each value inside its range, the pair unlike the data
    assert odd.decision is Decision.ASK and odd.support["outside"] == ["speed", "load"]
    assert "mahalanobis score" in odd.reason and "widened" not in odd.reason
    guard.observe(FiniteData(np.array([1]), np.array([1])))  # a family holding its data: no extra rows
    assert guard.check([0.1, 25.0], 1).support["n_train"] == 200


def test_support_records_survive_the_audit_log_and_old_records_load(causal, tmp_path):
    path = tmp_path / "audit.jsonl"
    guard = _guard(causal, audit_path=path)
    verdicts = guard.check_all({"z": -1e300}) + guard.check_all({"z": 0.1})
    assert read_audit_log(path) == verdicts
    for v in verdicts:
        assert Verdict.from_dict(json.loads(v.to_json())) == v
    old = verdicts[-1].to_dict()
    del old["support"]  # a record written before the field existed
    assert Verdict.from_dict(old).support is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"score": "density"}, "support.score: expected one of mahalanobis, knn, range"),
        ({"fpr": 1.0}, "support.fpr"),
        ({"fpr": 0.0}, "support.fpr"),
        ({"margin": -0.1}, "support.margin"),
        ({"k": 0}, "support.k"),
        ({"shrinkage": 2.0}, "support.shrinkage"),
        ({"min_points": 2}, "support.min_points"),
    ],
)
def test_bad_support_config_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SupportConfig(**kwargs)
    with pytest.raises(TypeError, match="support.enabled"):
        SupportConfig(enabled="yes")


def test_bad_support_contexts_are_named(bandit):
    fam, data, _ = bandit
    with pytest.raises(ValueError, match="support.contexts"):
        Guard(fam, exact_posterior(fam, data), support=SupportConfig(contexts="pulls.csv"))
    with pytest.raises(TypeError, match="support: expected a SupportConfig"):
        Guard(fam, exact_posterior(fam, data), support={"enabled": True})
