"""JSON codecs of contexts, actions and data: they round-trip, a decoded context gets the native
context's verdict, decoded data move the posterior as native data do, and each guard describes its forms
by examples that decode (errors and fuzzing: :mod:`test_codecs_errors`)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from codec_guards import ARMS, codec_guards

from bayesguard import BanditData, FiniteData
from bayesguard.service import codecs
from bayesguard.theories.causal.observations import CausalData


@pytest.fixture(scope="module")
def guards(tmp_path_factory):
    return codec_guards(tmp_path_factory.mktemp("codecs"))


def _key(verdicts):
    return [(v.action, v.decision.value, v.harm_estimate, v.witness, v.reason) for v in verdicts]


def test_family_kind_and_action_names(guards):
    kinds = {name: codecs.family_kind(g) for name, g in guards.items()}
    assert kinds == {"finite": "finite", "bandit": "bandit", "causal": "causal", "discrete": "causal"}
    assert codecs.action_names(guards["finite"]) == ["left", "right"]
    assert codecs.action_names(guards["bandit"]) == ["arm 0", "arm 1", "arm 2"]
    assert codecs.action_names(guards["discrete"]) == ["do nothing", "do(dose=high)"]
    with pytest.raises(TypeError, match="no JSON codec"):
        codecs.family_kind(object())


def test_actions_decode_by_index_or_name(guards):
    g = guards["finite"]
    assert [codecs.decode_action(g, v) for v in (0, 1, "left", "right")] == [0, 1, 0, 1]
    assert codecs.decode_action(guards["bandit"], "arm 2") == 2
    for bad, pattern in [
        (2, r"^action: expected an action index in \[0, 1\], got 2$"),
        (-1, r"^action: expected an action index"),
        (True, r"^action: .* got True$"),
        (1.0, r"^action: .* got 1\.0$"),
        ("up", r"^action: expected an action name of \['left', 'right'\], got 'up'$"),
        (None, r"^action: "),
        ([0], r"^action: .* got a list of 1 items$"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            codecs.decode_action(g, bad)


NATIVE_CONTEXTS = {
    "finite": [None],
    "bandit": [
        ARMS,
        np.eye(3, 4),
        np.full((3, 4), 0.5),
        np.array([[2.0, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]]),
    ],
    "causal": [{"ambient": a} for a in (-1.5, 0.0, 0.7, 2.0, 40.0)],
    "discrete": [{"season": "dry"}, {"season": "wet"}, {"season": 1}],
}


@pytest.mark.parametrize("name", list(NATIVE_CONTEXTS))
def test_contexts_round_trip_and_get_the_native_verdicts(guards, name):
    g = guards[name]
    decisions = set()
    for native in NATIVE_CONTEXTS[name]:
        encoded = codecs.encode_context(g, native)
        assert json.loads(json.dumps(encoded, allow_nan=False)) == encoded  # JSON-ready
        decoded = codecs.decode_context(g, encoded)
        np.testing.assert_equal(codecs.encode_context(g, decoded), encoded)
        if isinstance(native, np.ndarray):
            np.testing.assert_array_equal(decoded, native)
        assert _key(g.check_all(decoded)) == _key(g.check_all(native))
        # (a discrete guard refuses do(dose) while some graph has dose -> season: only action 0 is live)
        assert not g.check(decoded, 0).reason.startswith("guard error")
        decisions |= {v.decision.value for v in g.check_all(decoded)}
    if name != "finite":
        assert len(decisions) >= 2  # the comparison is not vacuous
    if name == "discrete":  # an integer code encodes as its label
        assert codecs.encode_context(g, {"season": 1}) == {"season": "wet"}


def _native_data(guards):
    rng = np.random.default_rng(3)
    return {
        "finite": FiniteData(np.array([1, 1, 0]), np.array([1, 1, 0])),
        "bandit": BanditData(ARMS[[0, 1, 2, 1]], np.array([4.2, 0.9, 1.1, -0.3])),
        "causal": CausalData(
            rng.normal(size=(5, 3)), np.array([[0, 1, 0]] * 2 + [[0, 0, 0]] * 3, dtype=bool)
        ),
        "discrete": CausalData(np.array([[0.0, 1, 1], [1, 0, 0], [1, 1, 1]])),
    }


@pytest.mark.parametrize("name", ["finite", "bandit", "causal", "discrete"])
def test_data_round_trip_and_update_the_posterior_as_native_data(guards, name):
    g = guards[name]
    native = _native_data(guards)[name]
    encoded = codecs.encode_data(g, native)
    assert json.loads(json.dumps(encoded, allow_nan=False)) == encoded
    decoded = codecs.decode_data(g, encoded)
    assert type(decoded) is type(native)
    for field in ("actions", "outcomes", "features", "rewards", "values", "intervened"):
        if hasattr(native, field):
            np.testing.assert_array_equal(getattr(decoded, field), getattr(native, field))
    assert codecs.encode_data(g, decoded) == encoded
    a, b = copy.deepcopy(g), copy.deepcopy(g)
    a.observe(native)
    b.observe(decoded)
    np.testing.assert_array_equal(a.posterior.log_weights, b.posterior.log_weights)
    assert not np.allclose(a.posterior.log_weights, g.posterior.log_weights)  # the data moved it


def test_finite_data_by_name_and_index_agree(guards):
    g = guards["finite"]
    by_name = codecs.decode_data(g, {"actions": ["right", "left"], "outcomes": ["cake", "death"]})
    by_index = codecs.decode_data(g, {"actions": [1, 0], "outcomes": [1, 0]})
    assert by_name == by_index == FiniteData(np.array([1, 0]), np.array([1, 0]))


def test_causal_data_rows_and_columns_agree(guards):
    g = guards["discrete"]
    rows = {
        "rows": [
            {"season": "wet", "dose": "high", "status": "sick"},
            {"season": "dry", "dose": "low", "status": "ok"},
        ]
    }
    cols = {"columns": {"season": ["wet", "dry"], "dose": ["high", "low"], "status": ["sick", "ok"]}}
    a, b = codecs.decode_data(g, rows), codecs.decode_data(g, cols)
    np.testing.assert_array_equal(a.values, b.values)
    # the codes are positions in the table's categories (sorted labels: dose high/low, season dry/wet)
    np.testing.assert_array_equal(a.values, [[1, 0, 1], [0, 1, 0]])
    marked = codecs.decode_data(g, {**rows, "intervened": [["dose"], []]})
    np.testing.assert_array_equal(marked.intervened, [[False, True, False], [False, False, False]])


@pytest.mark.parametrize("name", ["finite", "bandit", "causal", "discrete"])
def test_describe_io_examples_decode_and_check(guards, name):
    g = guards[name]
    info = codecs.describe_io(g)
    assert json.loads(json.dumps(info, allow_nan=False)) == info
    assert info["family"] == codecs.family_kind(g) and info["n_actions"] == g.n_actions
    assert info["action_names"] == codecs.action_names(g)
    assert all(isinstance(info[k]["form"], str) and info[k]["form"] for k in ("action", "context", "data"))
    assert codecs.decode_action(g, info["action"]["example"]) == 0
    verdicts = g.check_all(codecs.decode_context(g, info["context"]["example"]))
    assert len(verdicts) == g.n_actions and not verdicts[0].reason.startswith("guard error")
    copy.deepcopy(g).observe(codecs.decode_data(g, info["data"]["example"]))


# ---------------------------------------------------------------------------- fuzz
