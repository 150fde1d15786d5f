"""The causal guard: ASK when plausible theories disagree, never when they agree; the harm-seeking search
finds a planted harmful theory that a plain sample misses; people's theories make the guard more
cautious, never less; errors fail closed."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.guard.causal_guard import CausalGuard
from bayesguard.guard.evaluation import evaluate
from bayesguard.guard.rules import cautious_members
from bayesguard.guard.verdict import Decision
from bayesguard.posterior import Posterior, SamplerError
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.human import HumanTheory
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior

NAMES = ("a", "h", "z")
SPEC = HarmSpec(NAMES, "h > 2.0", ({}, {"a": 3.0}, {"z": 1.0}))


@pytest.fixture(scope="module")
def world():
    """The truth is h -> a (acting on a is harmless); the data cannot tell a -> h from h -> a, and the
    prior says a -> h is unlikely (probability 0.001), so a -> h keeps about 1e-3 posterior mass."""
    rng = np.random.default_rng(0)
    h = rng.normal(size=200)
    a = 0.8 * h + 0.6 * rng.normal(size=200)
    x = np.c_[a, h, rng.normal(size=200)]
    probs = np.full((3, 3), 0.5)
    probs[0, 1] = 0.001
    prior = StructurePrior.make(NAMES, kind="edge-probs", edge_probs=probs)
    post = exact_structure_posterior(StructureScore(BGeScore(x), prior))
    harmful = post.theories[:, 0, 1]
    # a plain sample of 1,000 theories that misses every graph with a -> h
    idx = np.random.default_rng(1).choice(post.n_theories, 1000, p=post.probs)
    assert not harmful[idx].any()
    samples = Posterior.from_samples(post.theories[idx])
    return x, prior, post, samples


def guard(world, posterior, **kw):
    x, prior, post, samples = world
    opts = dict(prior=prior, alpha=1e-4, threshold=0.05, seed=0)
    opts.update(kw)
    return CausalGuard(SPEC, x, {"exact": post, "samples": samples}[posterior], **opts)


def test_exact_posterior_asks_when_a_plausible_theory_disagrees(world):
    _, _, post, _ = world
    assert 2e-4 < post.probs[post.theories[:, 0, 1]].sum() < 5e-3
    v = guard(world, "exact").check_all({})
    assert [x.decision for x in v] == [Decision.ALLOW, Decision.ASK, Decision.ALLOW]
    ask = v[1]
    assert ask.posterior_harm <= 0.05 < ask.harm_estimate
    assert ask.epistemic > 0 and ask.aleatoric > 0
    assert "a -(" in ask.explanation and ask.witness_theory == "{a->h}"
    assert ask.suggestion.startswith("try do nothing") or ask.suggestion.startswith("try do(z=1)")
    assert "epistemic" in ask.explain() and "causal path" in ask.explain()


def test_search_finds_the_planted_harmful_theory_that_sampling_missed(world):
    plain = guard(world, "samples").check({}, 1)
    assert plain.decision is Decision.ALLOW
    found = guard(world, "samples", search=True).check({}, 1)
    assert found.decision is not Decision.ALLOW
    assert found.witness_source == "search" and found.witness_theory == "{a->h}"
    assert 1e-4 <= found.witness_prob < 5e-3  # just inside M_alpha (alpha = 1e-4), absent from the sample


def test_never_ask_when_the_theories_agree(world):
    x, prior, _, _ = world
    one = np.zeros((1, 3, 3), dtype=bool)
    one[0, 1, 0] = True  # every theory is h -> a
    post = Posterior.from_samples(np.repeat(one, 50, axis=0))
    for c in np.linspace(0.0, 1.0, 41):
        g = CausalGuard(SPEC, x, post, prior=prior, threshold=float(c), n_theories=50)
        for v in g.check_all({}):
            assert v.decision is not Decision.ASK


def test_ask_only_when_the_members_straddle_the_threshold(world):
    g = guard(world, "exact")
    ev = evaluate(g, g._prepared(), {})
    member = ev.harm_distinct[cautious_members(ev.cautious_probs, g.alpha, "worst")]
    for c in np.linspace(0.0, 1.0, 21):
        g.threshold = float(c)
        for v in g.check_all({}):
            straddle = member[:, v.action].min() <= c < member[:, v.action].max()
            assert v.decision is not Decision.ASK or straddle
            if v.decision is Decision.ALLOW:
                assert v.harm_estimate <= c and v.posterior_upper <= c
            if v.posterior_harm > c:
                assert v.decision is Decision.REJECT


def test_human_theory_turns_allow_into_ask_or_reject(world):
    plain = guard(world, "samples").check({}, 1)
    assert plain.decision is Decision.ALLOW
    human = HumanTheory(["a -> h"], name="operator: the valve drives pressure")
    v = guard(world, "samples", human_theories=[human]).check({}, 1)
    assert v.decision in (Decision.ASK, Decision.REJECT)
    assert v.witness_source == "human" and "operator" in v.witness_theory
    # a full SCM that the data contradict (z drives h with weight 5) has no posterior mass: no effect
    wild = HumanTheory(["z -> h", "h -> a"], name="wild", coefficients={("z", "h"): 5.0, ("h", "a"): 0.8})
    g = guard(world, "samples", human_theories=[wild])
    assert g.check({}, 2).decision is Decision.ALLOW
    # the same SCM with the data's own coefficient is plausible and is kept
    fair = HumanTheory(["h -> a"], coefficients={("h", "a"): 0.8}, noise_var={"a": 0.36})
    g = guard(world, "samples", human_theories=[fair])
    assert g.family.points and (g.posterior.source == "human").sum() == 1
    ev = evaluate(g, g._prepared(), {})
    inside = cautious_members(ev.cautious_probs, g.alpha, "worst")
    human_row = int(np.flatnonzero(g.posterior.source == "human")[0])
    assert inside[list(g._prepared().first).index(human_row)]


def test_human_theory_validation():
    with pytest.raises(ValueError, match="unknown variable 'q'"):
        HumanTheory(["q -> h"]).graph(NAMES)
    with pytest.raises(ValueError, match="cycle"):
        HumanTheory(["a -> h", "h -> a"]).graph(NAMES)
    with pytest.raises(ValueError, match="no \\(non-zero\\) coefficient"):
        HumanTheory(["a -> h", "z -> h"], coefficients={("a", "h"): 1.0}).parameters(NAMES)
    with pytest.raises(ValueError, match="noise_var"):
        HumanTheory(["a -> h"], coefficients={("a", "h"): 1.0}, noise_var={"h": -1.0}).parameters(NAMES)


def test_errors_fail_closed_and_bad_configuration_raises(world, tmp_path):
    g = guard(world, "exact", audit_path=tmp_path / "audit.jsonl")
    v = g.check({"temp": 1.0}, 1)
    assert v.decision is Decision.REJECT and "context" in v.reason
    assert g.check({}, 7).decision is Decision.REJECT
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 2
    x, prior, post, _ = world
    with pytest.raises(ValueError, match="pass the prior"):
        CausalGuard(SPEC, x, post)  # the posterior was computed under another prior
    with pytest.raises(ValueError, match="data: expected shape"):
        CausalGuard(SPEC, x[:, :2], post, prior=prior)
    with pytest.raises(ValueError, match="alpha"):
        CausalGuard(SPEC, x, post, prior=prior, alpha=0.0)


# ---------------------------------------------------------------------------- honest numbers
def test_exact_posterior_verdicts_are_guaranteed(world):
    v = guard(world, "exact").check({}, 0)
    assert v.guaranteed and "exact posterior" in "; ".join(v.assumptions)
    assert "[guaranteed]" in str(v) and "not guaranteed" not in v.reason


def test_unknown_sampler_error_is_never_guaranteed(world):
    """A bound over an approximate posterior whose error is unknown is never called guaranteed, and the
    verdict says why (in its reason, its JSON and its explanation)."""
    v = guard(world, "samples", measure_error=False).check({}, 0)
    assert not v.guaranteed
    assert "not guaranteed" in v.reason and "sampler error unknown" in v.reason
    assert '"guaranteed": false' in v.to_json() and "NOT guaranteed" in v.explain()
    # the sampled posterior knows nothing of its error, so the Monte Carlo bound adds nothing for it
    g = guard(world, "samples", measure_error=False)
    assert not g._prepared().sampler.known


def test_sampled_posterior_error_is_measured_against_the_exact_dp_by_default(world):
    """At small d the guard measures a sampled posterior's edge-marginal error against the exact
    structure DP: an estimate (a lower bound on TV), so still not guaranteed, but no longer unknown."""
    x, prior, post, samples = world
    g = guard(world, "samples")
    err = g._prepared().sampler
    from bayesguard.graphs.compare import posterior_edge_marginals

    gap = np.abs(posterior_edge_marginals(samples) - posterior_edge_marginals(post)).max()
    assert err.known and not err.is_bound and err.tv == pytest.approx(gap, abs=1e-9)
    assert "exact structure-modular DP" in err.how
    assert not g.check({}, 0).guaranteed


def test_stated_or_measured_sampler_bound_makes_it_guaranteed(world):
    x, prior, post, samples = world
    stated = guard(world, "samples", sampler_error=0.01).check({}, 0)
    assert stated.guaranteed and "stated by the user" in "; ".join(stated.assumptions)
    measured = samples.with_provenance(
        method="gflownet", sampler_error=SamplerError(0.02, "exact sampler law against the enumeration", True)
    )
    g = CausalGuard(SPEC, x, measured, prior=prior, alpha=1e-4, threshold=0.05)
    assert g.check({}, 0).guaranteed and g._prepared().sampler.tv == 0.02
    # the bound really includes the stated error: upper >= mean + 0.02
    v = g.check({}, 0)
    assert v.posterior_upper >= v.posterior_harm + 0.02 - 1e-12


def test_mcmc_posterior_verdict_is_not_guaranteed_and_says_why(world):
    from bayesguard.inference.mcmc import structure_mcmc

    x, prior, _, _ = world
    run = structure_mcmc(StructureScore(BGeScore(x), prior), n_chains=4, n_steps=400, seed=0, progress=False)
    post = run.posterior()
    assert post.method == "mcmc" and not post.independent
    assert post.sampler_error.known and not post.sampler_error.is_bound
    assert "between-chain" in post.sampler_error.how
    v = CausalGuard(SPEC, x, post, prior=prior, alpha=1e-4, threshold=0.05).check({}, 1)
    assert not v.guaranteed and "correlated" in v.reason


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"search_beta": 0}, "search_beta"),
        ({"search_beta": float("nan")}, "search_beta"),
        ({"search_beta": "x"}, "search_beta"),
        ({"delta": None}, "delta"),
        ({"delta": 1.0}, "delta"),
        ({"seed": -1}, "seed"),
        ({"audit_path": 0}, "audit_path"),
        ({"sampler_error": 2.0}, "sampler_error"),
    ],
)
def test_bad_configuration_raises_at_construction(world, kw, field):
    with pytest.raises((TypeError, ValueError), match=f"^{field}"):
        guard(world, "exact", **kw)
