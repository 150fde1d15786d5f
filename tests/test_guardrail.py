"""The Guardrail: the talk's two-doors verdicts, failing closed, configuration errors, audit log."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bayesguard import Decision, FiniteData, FiniteFamily, Guardrail, Posterior, Verdict, exact_posterior
from bayesguard.experiments.two_doors import CAKE, DEATH, LEFT, RIGHT, two_doors_family
from bayesguard.guard import read_audit_log
from bayesguard.guard.audit import AuditRecordLost

RULES = [
    ("none", {}),
    ("posterior", {}),
    ("cautious-iid", {}),
    ("cautious", {"alpha": 0.01}),
    ("oracle", {"true_theory": 1}),
]


@pytest.fixture
def doors():
    family = two_doors_family()
    return family, exact_posterior(family)


# ---------------------------------------------------------------------------- the two doors
def test_cautious_guard_rejects_left_allows_right(doors):
    family, prior = doors
    guard = Guardrail(family, prior)  # defaults: cautious, C = 0.01, alpha = 0.01, ties = worst
    left, right = guard.check_all(None)
    assert (left.decision, right.decision) == (Decision.REJECT, Decision.ALLOW)
    assert left.harm_estimate == 1.0 and right.harm_estimate == 0.0
    assert left.posterior_harm == 0.5 and right.posterior_harm == 0.0
    assert left.witness == 0 and left.witness_theory.startswith("left-kills")
    assert left.witness_prob == 0.5
    assert left.params == {"alpha": 0.01, "ties": "worst"}
    assert guard.check(None, LEFT).decision == Decision.REJECT
    assert guard.check(None, RIGHT).decision == Decision.ALLOW
    assert guard.allowed_actions(None).tolist() == [False, True]


@pytest.mark.parametrize("ties", ["order", "worst"])
def test_cautious_alpha_one_with_ties(ties):
    """alpha = 1 keeps one of the two equally probable theories. If the harmless one is listed first,
    "order" keeps only it and allows the left door; "worst" still rejects it."""
    family = two_doors_family()
    post = Posterior.from_log_weights(np.array([1, 0]), np.zeros(2), "exact", family.name)
    guard = Guardrail(family, post, "cautious", 0.1, alpha=1.0, ties=ties)
    left = guard.check(None, LEFT)
    assert left.decision == (Decision.ALLOW if ties == "order" else Decision.REJECT)
    assert left.witness_theory.startswith("left-cake" if ties == "order" else "left-kills")


def test_posterior_rule_threshold_around_posterior_harm(doors):
    family, prior = doors
    below = np.nextafter(0.5, 0.0)
    assert Guardrail(family, prior, "posterior", below).check(None, LEFT).decision == Decision.REJECT
    assert Guardrail(family, prior, "posterior", 0.4).check(None, LEFT).decision == Decision.REJECT
    # reject only when the estimate is strictly above C
    assert Guardrail(family, prior, "posterior", 0.5).check(None, LEFT).decision == Decision.ALLOW
    assert Guardrail(family, prior, "posterior", 0.6).check(None, LEFT).decision == Decision.ALLOW
    assert Guardrail(family, prior, "posterior", 0.0).check(None, RIGHT).decision == Decision.ALLOW


def test_oracle_needs_and_uses_the_true_theory(doors):
    family, prior = doors
    with pytest.raises(ValueError, match="^true_theory:"):
        Guardrail(family, prior, "oracle", 0.1)
    kills = Guardrail(family, prior, "oracle", 0.1, true_theory=0).check_all(None)
    assert [v.decision for v in kills] == [Decision.REJECT, Decision.ALLOW]
    assert kills[0].harm_estimate == 1.0 and kills[0].witness is None
    cake = Guardrail(family, prior, "oracle", 0.1, true_theory=1).check_all(None)
    assert [v.decision for v in cake] == [Decision.ALLOW, Decision.ALLOW]


def test_no_guard_allows_everything(doors):
    family, prior = doors
    assert Guardrail(family, prior, "none", 0.0).allowed_actions(None).tolist() == [True, True]


# ---------------------------------------------------------------------------- failing closed
class BrokenFamily:
    """The two-doors family with a harm model that fails in a chosen way."""

    def __init__(self, mode: str):
        self.inner = two_doors_family()
        self.name = self.inner.name  # a broken copy of the same family: its posterior is valid here
        self.n_actions = 2
        self.mode = mode

    def log_prior(self, theories):
        return self.inner.log_prior(theories)

    def log_likelihood(self, theories, data):
        return self.inner.log_likelihood(theories, data)

    def describe(self, theory):
        if self.mode == "describe":
            raise KeyError("no description")
        return self.inner.describe(theory)

    def harm_prob(self, theories, context, action=None):
        harm = self.inner.harm_prob(theories, context, action)
        if self.mode == "raise":
            raise RuntimeError("harm model exploded")
        if self.mode == "nan":
            return np.full(harm.shape, np.nan)
        if self.mode == "big":
            return harm * 0 + 1.5
        if self.mode == "negative":
            return harm * 0 - 0.5
        if self.mode == "narrow":  # one column too few
            return np.zeros((harm.shape[0], self.n_actions - 1))
        if self.mode == "wide":  # one column too many
            return np.zeros((harm.shape[0], self.n_actions + 1))
        return harm


FAILURES = [
    ("raise", "RuntimeError: harm model exploded"),
    ("nan", "harm: contains NaN"),
    ("big", "harm: probabilities must lie in"),
    ("negative", "harm: probabilities must lie in"),
    ("describe", "KeyError"),
]


@pytest.mark.parametrize(
    "mode, reason, rule, kwargs",
    [
        (mode, reason, rule, kwargs)
        for mode, reason in FAILURES
        for rule, kwargs in RULES
        # "none" and "oracle" report no witness, so they never call describe
        if not (mode == "describe" and rule in ("none", "oracle"))
    ],
)
def test_broken_harm_model_fails_closed(mode, reason, rule, kwargs):
    family = BrokenFamily(mode)
    guard = Guardrail(family, exact_posterior(family.inner), rule, 1.0, **kwargs)  # C = 1 allows anything
    verdicts = guard.check_all(None) + [guard.check(None, a) for a in range(2)]
    for v in verdicts:
        assert v.decision == Decision.REJECT and not v.allowed
        assert v.reason.startswith("guard error, failing closed")
        assert reason in v.reason
        assert math.isnan(v.harm_estimate)
    assert [v.action for v in verdicts] == [0, 1, 0, 1]
    assert not guard.allowed_actions(None).any()


def test_working_broken_family_allows(doors):
    """Control: the wrapper itself, with no failure, gives the same verdicts as the real family."""
    family = BrokenFamily("ok")
    guard = Guardrail(family, exact_posterior(family.inner), "posterior", 1.0)
    assert guard.allowed_actions(None).tolist() == [True, True]


@pytest.mark.parametrize("mode", ["narrow", "wide"])
def test_harm_table_of_wrong_width_fails_closed(mode):
    family = BrokenFamily(mode)
    guard = Guardrail(family, exact_posterior(family.inner), "posterior", 0.1)
    verdicts = [guard.check(None, a) for a in range(2)] + guard.check_all(None)
    assert all(v.decision == Decision.REJECT for v in verdicts)


@pytest.mark.parametrize("action", [2, -1, 99, "left", 0.5, 1.0, True])
def test_bad_action_is_rejected(doors, action):
    family, _ = doors
    # A posterior on which every valid action is allowed, so any ALLOW would come from the bad index.
    post = exact_posterior(family, FiniteData(np.array([LEFT]), np.array([CAKE])))
    guard = Guardrail(family, post, "posterior", 0.5)
    assert guard.allowed_actions(None).tolist() == [True, True]
    v = guard.check(None, action)
    assert v.decision == Decision.REJECT
    assert "guard error, failing closed" in v.reason and "action" in v.reason


def test_check_with_no_action_is_rejected(doors):
    family, _ = doors
    post = exact_posterior(family, FiniteData(np.array([LEFT]), np.array([CAKE])))
    guard = Guardrail(family, post, "posterior", 0.5)
    assert guard.check(None, None).decision == Decision.REJECT


def test_context_for_context_free_family_fails_closed(doors):
    family, prior = doors
    guard = Guardrail(family, prior, "none", 1.0)
    verdicts = guard.check_all(np.zeros(3))
    assert [v.decision for v in verdicts] == [Decision.REJECT, Decision.REJECT]
    assert all("context" in v.reason for v in verdicts)


# ---------------------------------------------------------------------------- configuration errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold": -0.1}, "^threshold:"),
        ({"threshold": 1.5}, "^threshold:"),
        ({"threshold": math.nan}, "^threshold:"),
        ({"alpha": 0.0}, "^alpha:"),
        ({"alpha": 2.0}, "^alpha:"),
        ({"alpha": -1e-3}, "^alpha:"),
        ({"ties": "bogus"}, "^ties:"),
        ({"rule": "bogus"}, "^rule:"),
        ({"rule": "oracle"}, "^true_theory:"),
    ],
)
def test_constructor_errors_name_the_field(doors, kwargs, match):
    family, prior = doors
    with pytest.raises(ValueError, match=match):
        Guardrail(family, prior, **kwargs)


def test_constructor_type_errors(doors):
    family, prior = doors
    with pytest.raises(TypeError, match="^threshold:"):
        Guardrail(family, prior, threshold="0.1")
    with pytest.raises(TypeError, match="^alpha:"):
        Guardrail(family, prior, alpha="small")


# ---------------------------------------------------------------------------- audit log
def test_audit_log_round_trip(doors, tmp_path):
    family, prior = doors
    path = tmp_path / "audit.jsonl"
    guard = Guardrail(family, prior, "cautious", 0.1, alpha=0.05, audit_path=path)
    returned = guard.check_all(None) + [guard.check(None, RIGHT), guard.check(None, 7)]
    assert [v.decision for v in returned] == ["REJECT", "ALLOW", "ALLOW", "REJECT"]
    logged = read_audit_log(path)
    assert len(logged) == 4 == len(path.read_text().splitlines())
    assert [v.to_dict() for v in logged] == [v.to_dict() for v in returned]
    assert logged[:3] == returned[:3]  # exact equality where there is no NaN
    assert math.isnan(logged[3].harm_estimate) and logged[3].action == 7
    assert all(isinstance(v.decision, Decision) for v in logged)
    # appending, not overwriting
    Guardrail(family, prior, "posterior", 0.1, audit_path=path).check(None, LEFT)
    assert len(read_audit_log(path)) == 5


@pytest.mark.parametrize("where", ["directory", "missing-dir"])
def test_unwritable_audit_path_turns_allow_into_reject(doors, tmp_path, where):
    family, prior = doors
    path = tmp_path if where == "directory" else tmp_path / "no-such-dir" / "audit.jsonl"
    guard = Guardrail(family, prior, "cautious", 0.1, audit_path=path)
    with pytest.warns(AuditRecordLost, match="audit record lost"):
        left, right = guard.check_all(None)
    assert left.decision == Decision.REJECT and left.harm_estimate == 1.0  # a REJECT stays as it was
    assert "audit record lost" in left.reason  # and says that its record is lost
    assert right.decision == Decision.REJECT
    assert right.reason.startswith("guard error, failing closed")
    assert ("IsADirectoryError" if where == "directory" else "FileNotFoundError") in right.reason
    with pytest.warns(AuditRecordLost):
        single = guard.check(None, RIGHT)
        assert single.decision == Decision.REJECT and single.action == RIGHT
        assert not guard.allowed_actions(None).any()


def test_history_matches_returned_verdicts_when_audit_fails(doors, tmp_path):
    family, prior = doors
    guard = Guardrail(family, prior, "cautious", 0.1, audit_path=tmp_path)
    with pytest.warns(AuditRecordLost):
        returned = guard.check(None, RIGHT)
    assert guard.history[-1].decision == returned.decision


def test_history_records_every_verdict(doors):
    family, prior = doors
    guard = Guardrail(family, prior, "posterior", 0.1)
    returned = guard.check_all(None) + [guard.check(None, LEFT)]
    assert list(guard.history) == returned


def test_history_is_bounded(doors):
    family, prior = doors
    guard = Guardrail(family, prior, "posterior", 0.1, history_size=5)
    for _ in range(20):
        guard.check_all(None)
    assert len(guard.history) == 5


# ---------------------------------------------------------------------------- learning
def stochastic_family() -> FiniteFamily:
    table = np.array(
        [
            [[0.3, 0.6, 0.1], [0.05, 0.9, 0.05]],
            [[0.05, 0.5, 0.45], [0.2, 0.4, 0.4]],
            [[0.6, 0.2, 0.2], [0.01, 0.01, 0.98]],
        ]
    )
    return FiniteFamily(table, harmful=np.array([True, False, False]), prior=np.array([0.2, 0.5, 0.3]))


def test_observe_gives_the_exact_posterior_of_the_accumulated_data():
    family = stochastic_family()
    guard = Guardrail(family, exact_posterior(family), "posterior", 0.2)
    chunks = [
        (np.array([0, 1]), np.array([1, 2])),
        (np.array([], dtype=int), np.array([], dtype=int)),
        (np.array([0, 0, 1]), np.array([0, 1, 1])),
        (np.array([1]), np.array([2])),
    ]
    seen_a, seen_o = [], []
    for a, o in chunks:
        guard.observe(FiniteData(a, o))
        seen_a.extend(a.tolist())
        seen_o.extend(o.tolist())
        exact = exact_posterior(family, FiniteData(np.array(seen_a), np.array(seen_o)))
        np.testing.assert_allclose(guard.posterior.log_weights, exact.log_weights, rtol=0, atol=1e-12)
        assert guard.posterior.kind == "exact"
        harm = family.harm_prob(family.enumerate())
        v = guard.check(None, 0)
        assert v.posterior_harm == pytest.approx(float(exact.probs @ harm[:, 0]), rel=1e-12)
        assert v.allowed == (v.posterior_harm <= 0.2)


def test_observation_changes_the_two_doors_verdict(doors):
    family, prior = doors
    guard = Guardrail(family, prior)
    assert guard.check(None, LEFT).decision == Decision.REJECT
    guard.observe(FiniteData(np.array([LEFT]), np.array([CAKE])))  # rules out left-kills
    assert guard.posterior.probs.tolist() == [0.0, 1.0]
    assert guard.check(None, LEFT).decision == Decision.ALLOW
    with pytest.raises(ValueError, match="log_weights"):
        guard.observe(FiniteData(np.array([LEFT]), np.array([DEATH])))  # contradicts the only survivor


# ---------------------------------------------------------------------------- Verdict records
def test_verdict_round_trip(doors):
    family, prior = doors
    guard = Guardrail(family, prior)
    for v in guard.check_all(None):
        d = v.to_dict()
        assert d["decision"] in ("ALLOW", "REJECT") and isinstance(d["decision"], str)
        assert Verdict.from_dict(d) == v
        assert json.loads(v.to_json()) == d
        assert Verdict.from_dict(json.loads(v.to_json())) == v


def test_error_verdict_round_trip_turns_nan_into_null():
    v = Verdict(Decision.REJECT, None, math.nan, math.nan, 0.1, "cautious", {"alpha": 0.01}, reason="x")
    d = v.to_dict()
    assert d["harm_estimate"] is None and d["posterior_harm"] is None
    assert "NaN" not in v.to_json()
    back = Verdict.from_dict(json.loads(v.to_json()))
    assert math.isnan(back.harm_estimate) and math.isnan(back.posterior_harm)
    assert back.decision is Decision.REJECT and back.action is None and back.params == {"alpha": 0.01}
    assert back.to_dict() == d


def test_ask_decision_round_trip():
    v = Verdict(Decision.ASK, 3, 0.2, 0.1, 0.1, "posterior", witness=1, witness_prob=0.4)
    back = Verdict.from_dict(json.loads(v.to_json()))
    assert back == v and not back.allowed


# ---------------------------------------------------------------------------- ASK and honest numbers
def _tilted(p_kill: float, kind: str = "exact") -> Posterior:
    family = two_doors_family()
    lw = np.log([p_kill, 1 - p_kill])
    return Posterior.from_log_weights(np.array([0, 1]), lw, kind, family.name)


def test_ask_when_plausible_theories_straddle_c_but_the_posterior_does_not():
    family = two_doors_family()
    guard = Guardrail(family, _tilted(0.05), "cautious", 0.1, alpha=0.01)
    left = guard.check(None, LEFT)
    assert left.decision == Decision.ASK and left.posterior_harm == pytest.approx(0.05)
    assert "disagree" in left.reason and left.harm_estimate == 1.0
    # the posterior itself predicts harm above C: REJECT, not ASK
    assert Guardrail(family, _tilted(0.5), "cautious", 0.1).check(None, LEFT).decision == Decision.REJECT
    # with ask=False the same case is a REJECT; ALLOW never changes
    no_ask = Guardrail(family, _tilted(0.05), "cautious", 0.1, alpha=0.01, ask=False)
    assert no_ask.check(None, LEFT).decision == Decision.REJECT
    assert no_ask.check(None, RIGHT).decision == guard.check(None, RIGHT).decision == Decision.ALLOW


def test_guaranteed_only_over_an_exact_posterior():
    family = two_doors_family()
    exact = Guardrail(family, _tilted(0.05), "cautious", 0.1).check(None, RIGHT)
    assert exact.guaranteed and any("Ville" in a for a in exact.assumptions)
    sampled = Guardrail(family, Posterior.from_samples(np.array([0, 1, 1, 1]), family.name), "cautious", 0.1)
    v = sampled.check(None, RIGHT)
    assert not v.guaranteed and "sampler error unknown" in v.reason
    assert Verdict.from_dict(json.loads(v.to_json())) == v


def test_ties_random_draws_a_fresh_tie_break_from_the_seed():
    family = two_doors_family()
    post = Posterior.from_log_weights(np.array([0, 1]), np.zeros(2), "exact", family.name)
    picks = {
        Guardrail(family, post, "cautious", 0.1, alpha=1.0, ties="random", seed=s).check(None, LEFT).decision
        for s in range(20)
    }
    assert picks == {Decision.ALLOW, Decision.REJECT}  # either theory can fill the single place


@pytest.mark.parametrize(
    "args, kw, field",
    [
        ((None, None), {}, "family"),
        (("fam", None), {}, "posterior"),
        (("fam", "post"), {"seed": -1}, "seed"),
        (("fam", "post"), {"seed": "x"}, "seed"),
        (("fam", "post"), {"audit_path": 0}, "audit_path"),
        (("fam", "post"), {"ties": "bogus"}, "ties"),
        (("fam", "post"), {"ask": "yes"}, "ask"),
        (("fam", "post"), {"history_size": 0}, "history_size"),
        (("fam", "other-post"), {}, "posterior"),
    ],
)
def test_configuration_errors_name_the_argument(doors, args, kw, field):
    family, prior = doors
    other = Posterior.from_samples(np.array([0, 1]), "linear-bandit")
    lookup = {"fam": family, "post": prior, "other-post": other, None: None}
    with pytest.raises((TypeError, ValueError), match=f"^{field}"):
        Guardrail(*(lookup[a] for a in args), **kw)


def test_describe_returning_numpy_scalars_still_logs(doors, tmp_path):
    """A family whose describe returns np.int64 used to make the audit write raise out of check_all."""
    family, prior = doors

    class NumpyDescribe:
        name, n_actions = family.name, 2

        def __getattr__(self, item):
            return getattr(family, item)

        def describe(self, theory):
            return np.int64(7)

    guard = Guardrail(NumpyDescribe(), prior, "posterior", 0.1, audit_path=tmp_path / "a.jsonl")
    verdicts = guard.check_all(None)
    assert [v.witness_theory for v in verdicts] == ["7", "7"]
    assert len(read_audit_log(tmp_path / "a.jsonl")) == 2
