"""Harm specifications on causal models, and the cached harm model checked against the direct query."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.dag import random_dag_er
from bayesguard.theories.causal.harm import HarmEvent, HarmSpec
from bayesguard.theories.causal.harm_model import GaussianHarmModel
from bayesguard.theories.causal.linear_gaussian import interventional_gaussian, prob_above, sample_parameters
from bayesguard.theories.causal.scores import BGeScore

NAMES = ("valve", "temp", "pressure", "flow")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pressure > 8", HarmEvent("pressure", ">", 8)),
        ("pressure<=-1.5", HarmEvent("pressure", "<=", -1.5)),
        ("patient_status == 'critical'", HarmEvent("patient_status", "==", "critical")),
        ('status != "ok"', HarmEvent("status", "!=", "ok")),
        ("status == 2", HarmEvent("status", "==", 2)),
    ],
)
def test_harm_event_parse(text, expected):
    assert HarmEvent.parse(text) == expected


@pytest.mark.parametrize("text", ["pressure", "pressure >> 8", "> 8", "pressure > ", "pressure > 'high'"])
def test_harm_event_parse_errors(text):
    with pytest.raises(ValueError, match="harm"):
        HarmEvent.parse(text)


def spec(**kw):
    base = dict(
        names=NAMES,
        harm="pressure > 1.0",
        actions=({}, {"valve": 1.0}, {"valve": -1.0, "flow": 0.5}),
        context=("temp",),
    )
    base.update(kw)
    return HarmSpec(**base)


def test_spec_validation_names_the_field():
    assert spec().action_names == ("do nothing", "do(valve=1)", "do(valve=-1, flow=0.5)")
    bad = [
        (dict(harm="speed > 1"), "harm: unknown variable 'speed'"),
        (dict(harm="pressure == 1"), "needs a discrete model"),
        (dict(actions=({"speed": 1.0},)), r"actions\[0\]: unknown variable"),
        (dict(actions=({"pressure": 1.0},)), "harm variable"),
        (dict(actions=({"temp": 1.0},)), "observed before acting"),
        (dict(actions=({"valve": float("nan")},)), "finite number"),
        (dict(actions=()), "non-empty list"),
        (dict(context=("pressure",)), "context: the harm variable"),
        (dict(context=("nope",)), "context: unknown variable"),
        (dict(action_names=("a",)), "action_names: expected 3"),
    ]
    for kw, msg in bad:
        with pytest.raises(ValueError, match=msg):
            spec(**kw)
    s = spec()
    with pytest.raises(ValueError, match=r"missing \['temp'\]"):
        s.context_values({})
    with pytest.raises(ValueError, match=r"unexpected \['flow'\]"):
        s.context_values({"temp": 1.0, "flow": 2.0})
    with pytest.raises(ValueError, match="finite"):
        s.context_values({"temp": float("inf")})


def test_discrete_spec_codes_labels():
    cats = (("shut", "open"), ("ok", "high"), ("ok", "critical"))
    s = HarmSpec(("valve", "temp", "status"), "status == 'critical'", ({"valve": "open"},), ("temp",), cats)
    assert s.harm.value == 1 and s.actions[0] == {"valve": 1.0}
    assert s.context_values({"temp": "high"}).tolist() == [1.0]
    with pytest.raises(ValueError, match="harm: a discrete model needs"):
        HarmSpec(("valve", "temp", "status"), "status > 0", ({},), (), cats)
    with pytest.raises(ValueError, match=r"harm.value: 'dead' is not a category"):
        HarmSpec(("valve", "temp", "status"), "status == 'dead'", ({},), (), cats)
    with pytest.raises(ValueError, match=r"context\['temp'\]: 'warm'"):
        s.context_values({"temp": "warm"})


@pytest.mark.parametrize("op", [">", "<"])
def test_harm_model_matches_direct_query(op):
    rng = np.random.default_rng(3)
    scm = sample_linear_gaussian_scm(4, 300, 4, seed=5)
    score = BGeScore(scm.data)
    adj = np.stack([random_dag_er(4, 3, rng) for _ in range(40)])
    th = sample_parameters(score, adj, rng, NAMES)
    s = spec(harm=f"pressure {op} 0.3")
    model = GaussianHarmModel(s, th)
    ctx = {"temp": 0.7}
    got = model.harm(ctx)  # (n, A)
    for k, act in enumerate(s.actions):
        mean, var = interventional_gaussian(th, "pressure", do=act, evidence=ctx)
        above = prob_above(mean, var, 0.3)
        np.testing.assert_allclose(got[:, k], above if op == ">" else 1 - above, atol=1e-10)
    xs = rng.normal(size=(6, 1))
    batch = model.harm_batch(xs)  # (B, n, A)
    for b in range(6):
        np.testing.assert_allclose(batch[b], model.harm({"temp": xs[b, 0]}), atol=1e-12)
    idx = rng.integers(0, 40, 6)
    np.testing.assert_allclose(model.harm_pairs(idx, xs), batch[np.arange(6), idx], atol=1e-12)


def test_harm_model_without_context():
    scm = sample_linear_gaussian_scm(4, 200, 4, seed=1)
    th = sample_parameters(BGeScore(scm.data), np.broadcast_to(scm.adj, (5, 4, 4)), 0, NAMES)
    s = spec(context=())
    got = GaussianHarmModel(s, th).harm()
    mean, var = interventional_gaussian(th, "pressure", do={"valve": 1.0})
    np.testing.assert_allclose(got[:, 1], prob_above(mean, var, 1.0), atol=1e-10)
