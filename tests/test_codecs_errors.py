"""Codec errors: bad JSON names its path (``context.ambient: ...``, ``data.rewards[2]: ...``), and no JSON
value makes a decoder raise anything but ValueError / TypeError (a fuzz over random and mutated values)."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
from codec_guards import ARMS, codec_guards

from bayesguard.service import codecs


@pytest.fixture(scope="module")
def guards(tmp_path_factory):
    return codec_guards(tmp_path_factory.mktemp("codec-errors"))


BAD = [
    ("causal", "context", {"ambient": "x"}, "context.ambient: expected a finite number, got 'x'"),
    ("causal", "context", {"ambient": True}, "context.ambient: expected a finite number, got True"),
    ("causal", "context", {"ambient": math.nan}, "context.ambient: expected a finite number, got nan"),
    (
        "causal",
        "context",
        {"ambient": 10**400},
        "context.ambient: expected a finite number, got a very large",
    ),
    ("causal", "context", {}, "context.ambient: missing"),
    ("causal", "context", {"ambient": 1.0, "valve": 2.0}, "context.valve: unknown context variable"),
    ("causal", "context", None, "context: expected an object"),
    ("causal", "context", [1.0], "context: expected an object"),
    ("discrete", "context", {"season": "autumn"}, "context.season: expected a category of ['dry', 'wet']"),
    ("discrete", "context", {"season": 1}, "context.season: expected a category"),
    ("bandit", "context", ARMS.tolist()[:2], "context: expected a list of 3 items, got 2"),
    ("bandit", "context", [[1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], "context[0]: expected a list of 4 items"),
    (
        "bandit",
        "context",
        [[1, 1, 1, math.inf], [1, 0, 0, 0], [0, 1, 1, 0]],
        "context[0][3]: expected a finite",
    ),
    ("bandit", "context", [[1, 1, 1, False], [1, 0, 0, 0], [0, 1, 1, 0]], "context[0][3]: expected a finite"),
    ("bandit", "context", "arms", "context: expected a list, got 'arms'"),
    ("finite", "context", {"a": 1}, "context: the finite family takes no context"),
    ("finite", "context", 0, "context: the finite family takes no context"),
    (
        "bandit",
        "data",
        {"features": [[0, 0, 0, 0]] * 3, "rewards": [1, 2, "3"]},
        "data.rewards[2]: expected a finite",
    ),
    (
        "bandit",
        "data",
        {"features": [[0, 0, 0, 0]] * 3, "rewards": [1, 2]},
        "data.rewards: expected a list of 3",
    ),
    ("bandit", "data", {"features": [], "rewards": []}, "data.features: expected at least 1 items, got 0"),
    (
        "bandit",
        "data",
        {"features": [[0] * 4] * 10_001, "rewards": [0] * 10_001},
        "data.features: expected no more than 10000",
    ),
    ("bandit", "data", {"features": [[0, 0, 0, 0]], "rewards": [1], "extra": 1}, "data.extra: unknown field"),
    ("bandit", "data", {"rewards": [1]}, "data.features: missing"),
    (
        "finite",
        "data",
        {"actions": ["left", "up"], "outcomes": [0, 1]},
        "data.actions[1]: expected an action name",
    ),
    (
        "finite",
        "data",
        {"actions": [0, 1], "outcomes": [0, 3]},
        "data.outcomes[1]: expected an outcome index in [0, 2]",
    ),
    (
        "finite",
        "data",
        {"actions": [0, 1], "outcomes": [0]},
        "data.outcomes: expected a list of 2 items, got 1",
    ),
    ("causal", "data", {"rows": [{"ambient": 1, "valve": 2}]}, "data.rows[0].pressure: missing"),
    (
        "causal",
        "data",
        {"rows": [{"ambient": 1, "valve": 2, "pressure": None}]},
        "data.rows[0].pressure: expected a finite",
    ),
    ("causal", "data", {"rows": [], "intervened": []}, "data.rows: expected at least 1 items"),
    (
        "causal",
        "data",
        {"rows": [{"ambient": 1, "valve": 2, "pressure": 3}], "intervened": [["flow"]]},
        "data.intervened[0][0]: expected a variable name",
    ),
    (
        "causal",
        "data",
        {"rows": [{"ambient": 1, "valve": 2, "pressure": 3}], "intervened": [["valve", "valve"]]},
        "data.intervened[0][1]: 'valve' is listed twice",
    ),
    (
        "causal",
        "data",
        {"columns": {"ambient": [1], "valve": [2], "pressure": [3, 4]}},
        "data.columns.pressure: expected a list of 1 items",
    ),
    (
        "discrete",
        "data",
        {"rows": [{"season": "wet", "dose": "high", "status": "dead"}]},
        "data.rows[0].status: expected a category",
    ),
    (
        "causal",
        "data",
        {"rows": [{"ambient": 1, "valve": 2, "pressure": 3, "a b": 1}]},
        'data.rows[0]["a b"]: unknown variable',
    ),
]


@pytest.mark.parametrize("name, what, value, message", BAD)
def test_bad_input_names_its_json_path(guards, name, what, value, message):
    decode = codecs.decode_context if what == "context" else codecs.decode_data
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        decode(guards[name], value)


WORDS = [
    "ambient",
    "valve",
    "pressure",
    "season",
    "dose",
    "status",
    "wet",
    "dry",
    "high",
    "low",
    "sick",
    "left",
    "right",
    "death",
    "cake",
    "arm 1",
    "rows",
    "columns",
    "intervened",
    "features",
    "rewards",
    "actions",
    "outcomes",
    "",
    "x" * 100,
]
ATOMS = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    3,
    10**30,
    -(10**400),
    0.5,
    -0.0,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
]


def _random_json(rng, depth=0):
    r = rng.random()
    if depth >= 4 or r < 0.45:
        return ATOMS[rng.integers(len(ATOMS))] if rng.random() < 0.6 else WORDS[rng.integers(len(WORDS))]
    n = int(rng.integers(0, 5))
    if r < 0.75:
        return [_random_json(rng, depth + 1) for _ in range(n)]
    return {WORDS[rng.integers(len(WORDS))]: _random_json(rng, depth + 1) for _ in range(n)}


def _mutate(value, rng):
    """``value`` with one random leaf or branch replaced by random JSON."""
    if not isinstance(value, list | dict) or not value or rng.random() < 0.25:
        return _random_json(rng)
    out = copy.copy(value)
    key = list(out)[rng.integers(len(out))] if isinstance(out, dict) else int(rng.integers(len(out)))
    out[key] = _mutate(out[key], rng)
    return out


@pytest.mark.parametrize("name", ["finite", "bandit", "causal", "discrete"])
def test_fuzz_decoders_raise_only_value_or_type_errors(guards, name):
    g = guards[name]
    info = codecs.describe_io(g)
    rng = np.random.default_rng(["finite", "bandit", "causal", "discrete"].index(name))
    ok = 0
    for k in range(2000):
        fresh = k % 2 == 0
        for what, decode in (
            ("context", codecs.decode_context),
            ("data", codecs.decode_data),
            ("action", codecs.decode_action),
        ):
            value = _random_json(rng) if fresh else _mutate(info[what]["example"], rng)
            try:
                decode(g, value)
                ok += 1
            except (ValueError, TypeError) as exc:
                assert str(exc) and len(str(exc)) < 600
    assert ok > 0  # some mutated examples stay valid: the decoders are not refusing everything
