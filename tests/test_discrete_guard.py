"""The causal guard on discrete (BDeu) worlds: each graph's harm is exact (against brute-force enumeration
and against averaging over Dirichlet parameter draws); the interventional BDeu score scores each node on
its own rows; the guard asks when plausible theories disagree, never when they agree; search and people's
graphs make it more cautious; bad input is named."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from _discrete_reference import brute_force_harm

from bayesguard.datasets import sample_discrete_scm, validate_table
from bayesguard.graphs.dag import enumerate_dags, transitive_closure
from bayesguard.guard.causal_guard import CausalGuard
from bayesguard.guard.evaluation import evaluate
from bayesguard.guard.rules import cautious_members
from bayesguard.guard.verdict import Decision
from bayesguard.marginal.information import discrete_eig
from bayesguard.posterior import Posterior
from bayesguard.theories.causal.discrete import posterior_mean_cpts, query, sample_cpts
from bayesguard.theories.causal.discrete_harm import DiscreteHarmModel
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.human import HumanTheory
from bayesguard.theories.causal.interventional import InterventionalBDeuScore
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BDeuScore
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior


@pytest.fixture(scope="module")
def small():
    scm = sample_discrete_scm(4, 300, expected_edges=4, arities=[2, 3, 2, 3], seed=3)
    names = ("w", "x", "y", "z")
    cats = tuple(tuple(range(r)) for r in scm.arities)
    spec = HarmSpec(names, "y == 1", ({}, {"w": 1}, {"x": 2}), ("z",), categories=cats)
    return scm, spec, BDeuScore(scm.data, scm.arities)


def test_harm_table_matches_brute_force_enumeration(small):
    scm, spec, score = small
    dags = enumerate_dags(4)
    graphs = dags[np.random.default_rng(0).choice(len(dags), 6, replace=False)]
    model = DiscreteHarmModel(spec, score, graphs)
    closure = transitive_closure(graphs)
    for g in range(len(graphs)):
        cpts = posterior_mean_cpts(score, graphs[g])
        for k, act in enumerate(spec.actions):
            do = {spec.index(v): int(c) for v, c in act.items()}
            if any(closure[g, a, 3] for a in do):  # z (seen before acting) descends from the action: refused
                with pytest.raises(ValueError, match="'z' is observed before acting but descends"):
                    model.harm_pairs([g], [[0]], actions=[k])
                continue
            for z in range(3):
                want = brute_force_harm(cpts, graphs[g], scm.arities, do, 2, 1, [3], [z])
                assert model.harm_pairs([g], [[z]], actions=[k])[0, 0] == pytest.approx(want, abs=1e-12)
    not_spec = HarmSpec(spec.names, "y != 1", spec.actions, ("z",), categories=spec.categories)
    other = DiscreteHarmModel(not_spec, score, graphs)
    assert np.allclose(other.table, 1.0 - model.table, equal_nan=True)


def test_harm_integrates_the_dirichlet_posterior_exactly(small):
    """With no context, P(H | do(a), G, D) = E_theta P(H | do(a), theta): compare with 20,000 draws."""
    scm, _, score = small
    cats = tuple(tuple(range(r)) for r in scm.arities)
    spec = HarmSpec(("w", "x", "y", "z"), "y == 1", ({}, {"w": 1}), categories=cats)
    adj = scm.adj
    model = DiscreteHarmModel(spec, score, adj[None])
    draws = sample_cpts(score, adj, 20_000, rng=1)
    for k, do in enumerate(({}, {0: 1})):
        per = query(draws, target=2, do=do)[:, 1]
        se = per.std() / np.sqrt(per.size)
        assert abs(model.harm({})[0, k] - per.mean()) < 4 * se + 1e-12


def test_interventional_bdeu_scores_each_node_on_its_own_rows():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, size=(200, 3))
    iv = np.zeros_like(codes, dtype=bool)
    iv[:50, 0] = True  # rows 0..49 set variable 0
    score = InterventionalBDeuScore(codes, iv, np.array([2, 2, 2]))
    ref0 = BDeuScore(codes[50:], np.array([2, 2, 2]))
    ref = BDeuScore(codes, np.array([2, 2, 2]))
    assert score.local(0, 0b110) == pytest.approx(ref0.local(0, 0b110))
    assert score.local(1, 0b001) == pytest.approx(ref.local(1, 0b001))
    with pytest.raises(ValueError, match="intervened: expected shape"):
        InterventionalBDeuScore(codes, iv[:, :2], np.array([2, 2, 2]))


def test_experiments_orient_the_edge_that_observations_cannot():
    """Truth a -> h. Observational BDeu ties a -> h with h -> a; rows with do(a) break the tie."""
    rng = np.random.default_rng(2)
    n = 600
    a = rng.integers(0, 2, n)
    iv = np.zeros((n, 2), dtype=bool)
    iv[400:, 0] = True  # the last 200 rows: a was set at random by an experiment
    h = np.where(rng.random(n) < np.where(a == 1, 0.8, 0.2), 1, 0)
    codes = np.c_[a, h]
    obs = BDeuScore(codes[:400], np.array([2, 2]))
    assert obs.local(0, 0) + obs.local(1, 0b01) == pytest.approx(obs.local(1, 0) + obs.local(0, 0b10))
    score = InterventionalBDeuScore(codes, iv, np.array([2, 2]))
    forward = score.local(0, 0) + score.local(1, 0b01)
    backward = score.local(1, 0) + score.local(0, 0b10)
    assert forward > backward + 5


# ------------------------------------------------------------------------------------------------ guard
NAMES = ("valve", "status", "shift")
CATS = (("closed", "open"), ("critical", "ok"), ("day", "night"))
SPEC = HarmSpec(
    NAMES, "status == 'critical'", ({}, {"valve": "open"}, {"valve": "closed"}), ("shift",), categories=CATS
)


@pytest.fixture(scope="module")
def plant():
    """Truth: status -> valve (opening the valve is harmless; operators open it in a crisis). The data
    cannot tell valve -> status from status -> valve; a manual says valve -> status is unlikely (prior
    0.001), so it keeps about 1e-3 of the posterior and predicts harm ~0.2 from opening the valve."""
    rng = np.random.default_rng(0)
    n = 3000
    critical = rng.random(n) < 0.03
    opened = rng.random(n) < np.where(critical, 0.9, 0.1)
    frame = pd.DataFrame(
        {
            "valve": np.where(opened, "open", "closed"),
            "status": np.where(critical, "critical", "ok"),
            "shift": rng.choice(["day", "night"], n),
        }
    )
    table = validate_table(frame, kind="discrete")
    assert table.categories == CATS
    probs = np.full((3, 3), 0.5)
    probs[0, 1] = 0.001
    # the shift is a schedule: nothing in the plant causes it (a context seen before acting must not descend
    # from the valve, or its harm is a counterfactual the tables do not determine and the guard refuses)
    exogenous = [("valve", "shift"), ("status", "shift")]
    prior = StructurePrior.make(NAMES, kind="edge-probs", edge_probs=probs, forbidden=exogenous)
    post = exact_structure_posterior(StructureScore(BDeuScore(table.values, table.arities), prior))
    harmful = post.theories[:, 0, 1]
    idx = np.random.default_rng(1).choice(post.n_theories, 1000, p=post.probs)
    assert not harmful[idx].any()  # a plain sample of 1,000 theories misses every valve -> status graph
    return table, prior, post, Posterior.from_samples(post.theories[idx])


def test_discrete_guard_asks_when_a_plausible_theory_disagrees(plant):
    table, prior, post, _ = plant
    assert 2e-4 < post.probs[post.theories[:, 0, 1]].sum() < 5e-3
    guard = CausalGuard(SPEC, table, post, prior=prior, alpha=1e-4, threshold=0.05, n_theories=4000)
    v = guard.check_all({"shift": "night"})
    assert [x.decision for x in v] == [Decision.ALLOW, Decision.ASK, Decision.ALLOW]
    ask = v[1]
    assert ask.posterior_harm < 0.05 < ask.harm_estimate
    assert ask.epistemic > 0 and ask.witness_theory == "{valve->status}"
    assert ask.suggestion.startswith("try")
    assert SPEC.action_names == ("do nothing", "do(valve=open)", "do(valve=closed)")
    # over an exact posterior a discrete graph's harm is exact, so the guard sums exactly:
    # sum_G p(G) P(H | x, a, G, D), computed here independently of the guard's own path
    keep = post.probs > 0  # graphs with an edge into the shift are ruled out by the prior
    exact = post.probs[keep] @ DiscreteHarmModel(SPEC, guard.family.local, post.theories[keep]).harm(
        {"shift": "night"}
    )
    np.testing.assert_allclose([x.posterior_harm for x in v], exact, rtol=1e-10)
    assert all(x.guaranteed for x in v)
    # with alpha = 0.01 the valve -> status graphs are not plausible enough: opening is allowed
    loose = CausalGuard(SPEC, table, post, prior=prior, alpha=0.01, threshold=0.05)
    assert loose.check({"shift": 0}, 1).decision is Decision.ALLOW


def test_discrete_guard_never_asks_when_theories_agree(plant):
    table, prior, post, _ = plant
    for alpha, c in itertools.product((1e-4, 1e-2, 0.3), (0.02, 0.05, 0.5)):
        guard = CausalGuard(SPEC, table, post, prior=prior, alpha=alpha, threshold=c)
        for shift in CATS[2]:
            ev = evaluate(guard, guard._prepared(), {"shift": shift})
            member = ev.harm_distinct[cautious_members(ev.cautious_probs, alpha, "worst")]
            for v in guard.check_all({"shift": shift}):
                agree = member[:, v.action].max() <= c or member[:, v.action].min() > c
                assert v.decision is not Decision.ASK or not agree


def test_search_and_people_find_what_the_sample_missed(plant):
    table, prior, _, samples = plant
    opts = dict(prior=prior, alpha=1e-4, threshold=0.05, seed=0)
    plain = CausalGuard(SPEC, table, samples, **opts)
    assert plain.check({"shift": "day"}, 1).decision is Decision.ALLOW
    searched = CausalGuard(SPEC, table, samples, search=True, **opts)
    v = searched.check({"shift": "day"}, 1)
    assert v.decision is not Decision.ALLOW and v.witness_source == "search"
    assert searched.family.adjacency(searched.theories_from("search"))[:, 0, 1].any()
    human = CausalGuard(
        SPEC, table, samples, human_theories=[HumanTheory(["valve -> status"], "manual")], **opts
    )
    v = human.check({"shift": "day"}, 1)
    assert v.decision is not Decision.ALLOW and v.witness_source == "human"


def test_discrete_guard_fails_closed_and_names_bad_input(plant):
    table, prior, post, _ = plant
    guard = CausalGuard(SPEC, table, post, prior=prior)
    v = guard.check({"shift": "evening"}, 0)
    assert v.decision is Decision.REJECT and "shift" in v.reason
    assert guard.check({"shift": 5}, 0).decision is Decision.REJECT
    bad = table.values.copy()
    bad[0, 1] = 2
    with pytest.raises(ValueError, match="column 'status' has codes outside 0..1"):
        CausalGuard(SPEC, bad, post, prior=prior)
    with pytest.raises(ValueError, match="non-integer"):
        CausalGuard(SPEC, table.values + 0.5, post, prior=prior)
    with pytest.raises(ValueError, match="ess"):
        CausalGuard(SPEC, table, post, prior=prior, ess=10.0)
    with pytest.raises(ValueError, match="drop the coefficients"):
        CausalGuard(
            SPEC,
            table,
            post,
            prior=prior,
            human_theories=[HumanTheory(["valve -> status"], coefficients={("valve", "status"): 1.0})],
        )


def test_discrete_information_gain_is_exact():
    w = np.array([0.25, 0.75])
    assert discrete_eig(w, np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(
        -(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75))
    )
    assert discrete_eig(w, np.array([[0.3, 0.7], [0.3, 0.7]])) == pytest.approx(0.0, abs=1e-12)
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    mix = w @ p
    want = sum(w[t] * p[t, y] * np.log2(p[t, y] / mix[y]) for t in range(2) for y in range(2))
    assert discrete_eig(w, p) == pytest.approx(want)
