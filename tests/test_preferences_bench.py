"""The preference agents and benchmark: exact posterior on the candidates, the question loop against a
brute-force EIG, the agents' distributions, ASK verdicts that carry the next question, the summaries
and checks against hand-made rows, and the command in quick mode."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bayesguard import Guard
from bayesguard.cli import main
from bayesguard.experiments.preferences_agents import (
    AGENTS,
    AgentConfig,
    ask_questions,
    candidate_family,
    choose_policies,
    pair_answer_probs,
    reward_posterior,
)
from bayesguard.experiments.preferences_report import check_goodhart, check_target, summarise
from bayesguard.guard.explain_verdict import reward_question
from bayesguard.theories.reward import FiniteRewardFamily, HumanModel, Preferences, answer_probs
from bayesguard.worlds.goodhart import GoodhartWorld


def _bt(w, left, right, beta, eps):
    """``(K, m)`` P(left) under Bradley-Terry with mistakes, written out."""
    d = w @ (left - right).T
    return (1 - eps) / (1 + np.exp(-beta * d)) + eps / 2


def _entropy(p):
    p = np.clip(p, 1e-300, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def _eig(probs, p_left):
    """Brute-force mutual information (nats) of a binary answer: ``(K,)``, ``(K, m)`` -> ``(m,)``."""
    both = np.stack([p_left, 1 - p_left], -1)
    return _entropy(probs @ both.transpose(1, 0, 2)) - probs @ _entropy(both)


@pytest.fixture(scope="module")
def world():
    return GoodhartWorld.make(4)


def test_posterior_is_exact_on_the_candidates(world):
    fam = candidate_family(world, 200, rng=0)
    rng = np.random.default_rng(1)
    left, right = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    prefs = world.human().answer(left, right, rng)
    belief = reward_posterior(fam.conditioned(prefs))
    p = _bt(fam.candidates, left, right, world.config.beta, world.config.eps)
    lik = np.prod(np.where(prefs.answer == 0, p, 1 - p), axis=1)
    np.testing.assert_allclose(belief.probs, lik / lik.sum(), rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(belief.theories, axis=1), 1.0)
    np.testing.assert_allclose(belief.mean, (lik / lik.sum()) @ fam.candidates, rtol=1e-9)


def test_fast_answer_probs_match_the_library(world):
    fam = candidate_family(world, 50, rng=2)
    rng = np.random.default_rng(3)
    left, right = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    fast = pair_answer_probs(fam, fam.candidates, left, right)
    slow = answer_probs(fam.candidates, left, right, fam.model)
    np.testing.assert_allclose(fast, slow[..., :2], atol=1e-12)
    equal = FiniteRewardFamily(fam.candidates, n_actions=2, model=HumanModel(1.0, 0.1, 0.5))
    np.testing.assert_allclose(pair_answer_probs(equal, fam.candidates, left, right),
                               answer_probs(fam.candidates, left, right, equal.model))  # fmt: skip


def test_eig_questions_maximise_a_brute_force_information_gain(world):
    fam = candidate_family(world, 300, rng=4)
    _, _, items = world.support_trajectories(12, 6, rng=5)
    pairs = np.array([(i, j) for i in range(12) for j in range(i + 1, 12)])
    runs = ask_questions(fam, items, pairs, world.human(), "eig", (0, 2), rng=6)
    asked = runs[2][0].data.preferences
    for n in range(2):  # each question maximises the EIG under the posterior of the answers before it
        before = runs[0][0].conditioned(Preferences(asked.left[:n], asked.right[:n], asked.answer[:n]))
        probs = reward_posterior(before).probs
        eig = _eig(probs, _bt(before.candidates, items[pairs[:, 0]], items[pairs[:, 1]], 1.0, 0.05))
        hit = np.flatnonzero(np.all(items[pairs[:, 0]] == asked.left[n], axis=1)
                             & np.all(items[pairs[:, 1]] == asked.right[n], axis=1))  # fmt: skip
        assert eig[hit].max() == pytest.approx(eig.max(), rel=1e-9)
    assert set(runs) == {0, 2} and len(runs[0][0].data) == 0


def test_agents_return_distributions_and_the_quantilizer_respects_its_base(world):
    fam = candidate_family(world, 400, rng=7)
    _, _, items = world.support_trajectories(20, 8, rng=8)
    pairs = np.array([(i, i + 1) for i in range(19)])
    belief = ask_questions(fam, items, pairs, world.human(), "random", (5,), rng=9)[5][1]
    cfg = AgentConfig(n_plan=15)
    cand, chosen = choose_policies(world, belief, cfg, rng=10)
    assert set(chosen) == set(AGENTS) and cand.policies.shape == (2 + 2 * 15, world.n_states)
    for name, dist in chosen.items():
        assert dist.sum() == pytest.approx(1.0) and dist.min() >= 0
        if name != "quantilizer":
            assert np.count_nonzero(dist) == 1
    base = (cand.kinds == "support") / np.sum(cand.kinds == "support")
    assert np.all(chosen["quantilizer"] <= base / cfg.quantile + 1e-12)
    # support policies never game, so neither does the quantilizer over them (E[c] <= E_base[c] / q = 0)
    assert not world.evaluate(cand.policies[cand.kinds == "support"]).gaming.any()
    with pytest.raises(ValueError, match="agents"):
        choose_policies(world, belief, cfg, rng=0, agents=("bogus",))


def test_ask_verdicts_carry_the_most_informative_question():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(400, 3))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    model = HumanModel(beta=8.0, eps=0.05)
    left = np.array(
        [[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 1], [0.5, 0.5, 0], [1, 0, 0], [0, 0, 0], [0.5, 1, 0]]
    )
    right = np.array(
        [[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 1], [0, 1, 0], [0, 0, 1], [1, 0.5, 0]]
    )
    fam = FiniteRewardFamily(w, n_actions=3, model=model, tolerance=0.1)
    fam = fam.conditioned(Preferences(left, right, [0, 0, 0, 1, 0, 0, 0, 1]))
    plans = np.array([[1.0, 0.3, 0.0], [0.6, 0.8, 0.0], [1.5, 0.2, 0.6]])
    guard = Guard(fam, fam.posterior(), rule="cautious", threshold=0.2, alpha=0.01)
    verdicts = guard.check_all(plans)
    asks = [v for v in verdicts if v.decision == "ASK"]
    assert asks, [v.decision for v in verdicts]
    probs = guard.posterior.probs
    pairs = [(0, 1), (0, 2), (1, 2)]
    eig = _eig(probs, _bt(w, plans[[a for a, _ in pairs]], plans[[b for _, b in pairs]], 8.0, 0.05))
    a, b = pairs[int(np.argmax(eig))]
    for v in verdicts:
        if v.decision == "ASK":
            assert (
                f"(A) action {a} or (B) action {b}" in v.suggestion
                and f"{eig.max():.3g} nats" in v.suggestion
            )
        else:
            assert v.suggestion is None
    question = reward_question(guard, plans)
    assert question.options == (a, b) and asks[0].suggestion == str(question)
    np.testing.assert_allclose(question.features, plans[[a, b]])
    guard.observe(Preferences(plans[[a]], plans[[b]], [0]))  # the answer goes straight back in
    assert len(guard.family.data) == 9


def test_summaries_and_checks_on_hand_made_rows():
    runs = [(0, "eig", 1, 0.0), (1, "eig", 1, 1.0), (0, "eig", 2, 0.0), (1, "eig", 2, 0.0)]
    runs += [(0, "random", 2, 1.0), (1, "random", 2, 0.0), (0, "random", 1, 2.0), (1, "random", 1, 2.0)]
    eff = [
        dict(seed=s, strategy=k, answers=n, regret=r, regret_fraction=r / 2, cosine=0.5, games=r > 0)
        for s, k, n, r in runs
    ]
    acts = [(0, "point-mean", 0.2, 1.0), (1, "point-mean", 1.0, 0.0), (0, "cvar", 0.95, 0.0)]
    acts += [(1, "cvar", 0.97, 0.0), (0, "lcb", 1.0, 0.0), (1, "lcb", 0.5, 0.0)]
    good = [
        dict(seed=s, queries="random", answers=3, agent=a, true_return=t, fraction=t, proxy_return=1.0,
             gaming_prob=g, games=g > 0)
        for s, a, t, g in acts
    ]  # fmt: skip
    eff_sum, good_sum = summarise(eff, good)
    row = next(r for r in eff_sum if (r["strategy"], r["answers"]) == ("eig", 1))
    assert row["regret"] == 0.5 and row["regret_se"] == pytest.approx(0.5) and row["games_seeds"] == "1/2"
    target = check_target(eff_sum, eff)
    assert target["met"] and target["compared_budget"] == 1 and target["paired_diff"] == pytest.approx(0.0)
    assert target["random_regret_at_largest"] == 0.5 and target["eig_regret_at_compared"] == 0.5
    check = check_goodhart(good_sum, ("cvar", "lcb"))
    assert check["met"] and check["modes"]["random"]["kept"] == ["cvar"]
    assert not check_goodhart([r for r in good_sum if r["agent"] != "cvar"], ("lcb",))["met"]


def test_bench_runs_quickly_through_the_cli(tmp_path):
    argv = ["bench", "preferences", "--seeds", "2", "--candidates", "200", "--budgets", "0,2,4"]
    argv += ["--answers", "2", "--pool", "10", "--pairs", "15", "--workers", "1", "--no-plots"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    with (tmp_path / "efficiency_raw.csv").open() as fh:
        eff = list(csv.DictReader(fh))
    with (tmp_path / "goodhart_raw.csv").open() as fh:
        good = list(csv.DictReader(fh))
    assert len(eff) == 2 * 3 * 3 and len(good) == 2 * 2 * (len(AGENTS) + 1)
    assert all(float(r["fraction"]) == pytest.approx(1.0) for r in good if r["agent"] == "true-optimal")
    assert all(float(r["regret"]) >= -1e-9 for r in eff)
    meta = json.loads((tmp_path / "preferences_run.json").read_text())
    assert (
        meta["seeds"] == [0, 1]
        and "machine" in meta
        and "met" in meta["target"]
        and "met" in meta["goodhart_check"]
    )
