"""``examples/guarded_agents_three_ways.py``: the scripted plant operator gets the same decisions guarded
by the decorator, over HTTP and over MCP; the decisions are the plant guard's own, every kind occurs,
only ALLOWed tools run, and the service records each of its verdicts once."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from bayesguard.service import load_bundle

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guarded_agents_three_ways.py"


@pytest.fixture(scope="module")
def example():
    return runpy.run_path(str(EXAMPLE), run_name="three_ways")


def test_the_three_ways_agree_with_the_guard(example, tmp_path, capsys):
    out = example["main"](tmp_path)
    printed = capsys.readouterr().out
    script, tools = example["SCRIPT"], example["TOOLS"]
    local = load_bundle(tmp_path / "plant-guard")  # the bundle the example fitted, checked again here
    want = [local.check({"ambient": ambient}, tools[name][1]) for name, ambient in script]
    for way in ("decorator", "http", "mcp"):
        assert out["decisions"][way] == [v.decision.value for v in want]
        np.testing.assert_allclose(out["harm"][way], [v.harm_estimate for v in want], rtol=1e-9)
    assert set(out["decisions"]["mcp"]) == {"ALLOW", "REJECT", "ASK"}
    allowed = [
        f"{name.split('_')[0]} at {a:+.1f}" for (name, a), v in zip(script, want, strict=True) if v.allowed
    ]
    assert allowed and all(out["ran"][way] == allowed for way in ("decorator", "http", "mcp"))
    assert out["records"] == 2 * len(script)  # HTTP and MCP checks, one record each
    assert "the three ways agree" in printed
    assert len(printed.splitlines()) == len(script) + 2
