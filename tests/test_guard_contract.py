"""The one Guard's contract, table-driven across every kind of theory: a finite table, a bandit, a
linear-Gaussian causal world and a discrete causal world.

For each family: errors fail closed (REJECT with the reason, never ALLOW); every verdict survives a JSON
round trip and its audit record reads back equal; ASK exactly when the plausible theories straddle C and
the posterior itself does not exceed it; ``observe`` in chunks equals the posterior recomputed from all
the data at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from bayesguard import BanditData, FiniteData, Guard, LinearBanditFamily, exact_posterior
from bayesguard.experiments.two_doors import two_doors_family
from bayesguard.guard import read_audit_log
from bayesguard.guard.evaluation import evaluate
from bayesguard.guard.rules import cautious_members
from bayesguard.guard.verdict import Decision, Verdict
from bayesguard.theories.causal.graph_family import CausalFamily
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.observations import CausalData
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.structure import exact_structure_posterior


@dataclass
class Case:
    """One family with data in two chunks and a context to check in."""

    name: str
    make: Any  # chunk list -> (family, exact posterior) on the data so far
    chunks: list  # data chunks, observed one after another
    context: Any
    bad_context: Any

    def all_data(self) -> list:
        return self.chunks


def _finite() -> Case:
    fam = two_doors_family()
    chunks = [FiniteData(np.array([1]), np.array([1])), FiniteData(np.array([1, 1]), np.array([1, 1]))]

    def make(data: list):
        post = exact_posterior(fam)
        for d in data:
            post = post.update(fam, d)
        return fam, post

    return Case("finite", make, chunks, None, "not-a-context-for-a-table")


def _bandit() -> Case:
    fam = LinearBanditFamily(n_features=4, n_actions=3, sigma=1.0, harm_threshold=2.5)
    arms = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)
    rng = np.random.default_rng(0)
    chunks = [
        BanditData(arms[[1, 2]], rng.normal(1.0, 1.0, 2)),
        BanditData(arms[[2]], rng.normal(1.5, 1.0, 1)),
    ]

    def make(data: list):
        if not data:
            return fam, exact_posterior(fam)
        return fam, exact_posterior(
            fam, BanditData(np.vstack([d.features for d in data]), np.concatenate([d.rewards for d in data]))
        )

    return Case("bandit", make, chunks, arms, np.ones((2, 2)))


def _causal(discrete: bool) -> Case:
    rng = np.random.default_rng(1)
    n = 300
    names = ("a", "h", "z")
    if discrete:
        a = rng.integers(0, 2, n)
        h = (rng.random(n) < np.where(a == 1, 0.3, 0.05)).astype(int)
        x = np.c_[a, h, rng.integers(0, 2, n)].astype(float)
        spec = HarmSpec(names, "h == 1", ({}, {"a": 1}), context=("z",), categories=((0, 1), (0, 1), (0, 1)))
        ctx, bad = {"z": 1}, {"z": 7}
    else:
        h = rng.normal(size=n)
        x = np.c_[0.8 * h + 0.6 * rng.normal(size=n), h, rng.normal(size=n)]
        spec = HarmSpec(names, "h > 1.5", ({}, {"a": 2.0}), context=("z",))
        ctx, bad = {"z": 0.5}, {"z": float("nan")}
    iv = np.zeros((40, 3), dtype=bool)
    iv[:, 0] = True
    new = x[:40].copy()
    new[:, 0] = 1.0 if discrete else 2.0
    chunks = [CausalData(x[200:], None), CausalData(new, iv)]
    # z is exogenous (a context observed before acting)
    prior = StructurePrior.make(names, forbidden=[("a", "z"), ("h", "z")])

    def make(data: list):
        fam = CausalFamily(spec, x[:200], prior, n_param_draws=4)
        for d in data:
            fam = fam.conditioned(d)
        return fam, exact_structure_posterior(fam.score)

    return Case("discrete-causal" if discrete else "lg-causal", make, chunks, ctx, bad)


CASES = [_finite(), _bandit(), _causal(False), _causal(True)]
IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_errors_fail_closed(case, tmp_path):
    fam, post = case.make([])
    guard = Guard(fam, post, "cautious", 0.5, alpha=0.01, audit_path=tmp_path / "a.jsonl")
    for v in guard.check_all(case.bad_context) + [
        guard.check(case.bad_context, 0),
        guard.check(case.context, 99),
    ]:
        assert v.decision is Decision.REJECT and v.reason.startswith("guard error, failing closed")
        assert math.isnan(v.harm_estimate)
    assert len(read_audit_log(tmp_path / "a.jsonl")) == guard.n_actions + 2


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_verdicts_round_trip_and_are_audited(case, tmp_path):
    fam, post = case.make([])
    path = tmp_path / "audit.jsonl"
    guard = Guard(fam, post, "cautious", 0.1, alpha=0.01, audit_path=path)
    verdicts = guard.check_all(case.context)
    assert [v.action for v in verdicts] == list(range(guard.n_actions))
    for v in verdicts:
        assert Verdict.from_dict(json.loads(v.to_json())) == v
        assert v.assumptions and isinstance(v.guaranteed, bool)
    assert read_audit_log(path) == verdicts


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_ask_exactly_when_plausible_theories_straddle_c(case):
    fam, post = case.make(case.chunks[:1])
    guard = Guard(fam, post, "cautious", 0.1, alpha=1e-3)
    ev = evaluate(guard, guard._prepared(), case.context)
    member = ev.harm_distinct[cautious_members(ev.cautious_probs, guard.alpha, "worst")]
    seen = set()
    for c in np.unique(np.r_[np.linspace(0, 1, 41), member.ravel()]):
        guard.threshold = float(c)
        for v in guard.check_all(case.context):
            a = v.action
            straddle = member[:, a].min() <= c < member[:, a].max()
            expected_ask = straddle and v.posterior_harm <= c and not v.harm_estimate <= c
            assert (v.decision is Decision.ASK) == expected_ask, (c, v)
            assert v.decision is not Decision.ALLOW or v.harm_estimate <= c
            seen.add(v.decision)
    assert Decision.ALLOW in seen and Decision.REJECT in seen


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_observe_equals_recomputing_from_all_the_data(case):
    fam, post = case.make([])
    guard = Guard(fam, post, "posterior", 0.1)
    for d in case.chunks:
        guard.observe(d)
    fam_all, post_all = case.make(case.chunks)
    assert guard.posterior.is_exact
    np.testing.assert_allclose(guard.posterior.log_weights, post_all.log_weights, atol=1e-8)
    if getattr(fam, "harm_exact", True):  # exact harm: the verdicts themselves are equal
        again = Guard(fam_all, post_all, "posterior", 0.1)
        for v, w in zip(guard.check_all(case.context), again.check_all(case.context), strict=True):
            assert v.decision == w.decision
            assert v.harm_estimate == pytest.approx(w.harm_estimate, abs=1e-10)
