"""The ``@guarded`` decorator: the tool runs only after ALLOW (or an approved ASK), fails closed, sync and
async; the scripted example agent runs."""

from __future__ import annotations

import asyncio
import math
import runpy
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bayesguard import Guard, exact_posterior
from bayesguard.guard.verdict import Decision, Verdict
from bayesguard.service.adapters import ActionRejected, GuardedCall, NeedsHuman, guarded
from bayesguard.theories import finite_family

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guarded_tool_agent.py"

# (n_theories=2, n_actions=3, n_outcomes=2); outcome 1 is harm.
TABLE = np.array([[[1, 0], [1, 0], [0, 1]], [[1, 0], [0, 1], [0, 1]]], float)
PRIOR = np.array([0.9, 0.1])
SAFE, SPLIT, HARMFUL = 0, 1, 2  # ALLOW, ASK and REJECT under the cautious rule with C = 0.2


def make_guard() -> Guard:
    family = finite_family(TABLE, harmful=[False, True], prior=PRIOR)
    return Guard(family, exact_posterior(family), rule="cautious", threshold=0.2, alpha=0.01)


def predictive_harm(action: int) -> float:
    """Brute force: sum_t p(t) P(harm | action, t) (no data, so the posterior is the prior)."""
    return float(sum(PRIOR[t] * TABLE[t, action, 1] for t in range(len(PRIOR))))


class Counter:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def tool(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return ("result", args, kwargs)


class StubGuard:
    """Returns a fixed decision (or raises / returns junk) and records what it was asked."""

    def __init__(self, decision="ALLOW", raises=None, returns=None, delay=0.0):
        self.decision, self.raises, self.returns, self.delay = decision, raises, returns, delay
        self.asked: list[tuple] = []
        self.threads: list[int] = []
        self.active = self.max_active = 0
        self._count = threading.Lock()

    def check(self, context, action):
        self.asked.append((context, action))
        self.threads.append(threading.get_ident())
        with self._count:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay)
            if self.raises is not None:
                raise self.raises
            if self.returns is not None:
                return self.returns
            return Verdict(Decision(self.decision), action, 0.0, 0.0, 0.1, "stub", reason="stub says so")
        finally:
            with self._count:
                self.active -= 1


# ---------------------------------------------------------------------- sync, real guard
def test_allow_calls_through_and_keeps_metadata():
    guard, counter = make_guard(), Counter()

    @guarded(guard, action=SAFE)
    def tool(x, y=3):
        """Adds."""
        counter.tool(x, y)
        return x + y

    assert tool(2) == 5 and tool(2, y=10) == 12
    assert len(counter.calls) == 2
    assert tool.__name__ == "tool" and tool.__doc__ == "Adds."
    assert tool.last_verdict.decision is Decision.ALLOW and tool.last_verdict.action == SAFE
    assert tool.last_verdict.posterior_harm == pytest.approx(predictive_harm(SAFE))


def test_reject_raises_with_verdict_and_never_calls():
    guard, counter = make_guard(), Counter()
    tool = guarded(guard, action=HARMFUL)(counter.tool)
    for _ in range(3):
        with pytest.raises(ActionRejected) as info:
            tool("rm -rf /")
        assert not isinstance(info.value, NeedsHuman)
        verdict = info.value.verdict
        assert verdict.decision is Decision.REJECT and verdict.action == HARMFUL
        assert verdict.posterior_harm == pytest.approx(predictive_harm(HARMFUL))
        assert verdict.reason and verdict.reason in str(info.value)
        assert tool.last_verdict is verdict
    assert counter.calls == []


def test_ask_without_on_ask_raises_needs_human():
    guard, counter = make_guard(), Counter()
    tool = guarded(guard, action=SPLIT)(counter.tool)
    with pytest.raises(NeedsHuman) as info:
        tool()
    assert isinstance(info.value, ActionRejected)  # one except clause catches every unrun call
    assert info.value.verdict.decision is Decision.ASK
    # the ASK is right: the predictive harm is below C but a plausible theory's harm is above it
    assert predictive_harm(SPLIT) <= 0.2 < TABLE[:, SPLIT, 1].max()
    assert counter.calls == []


@pytest.mark.parametrize(
    "answer, runs",
    [(True, True), (np.True_, True), (False, False), (None, False), ("yes", False), (1, False)],
)
def test_on_ask_decides(answer, runs):
    guard, counter = make_guard(), Counter()
    seen: list[tuple] = []

    def on_ask(verdict, call):
        seen.append((verdict, call))
        return answer

    @guarded(guard, action=lambda n: SPLIT, on_ask=on_ask)
    def tool(n, flag=False):
        counter.tool(n)
        return n * 2

    if runs:
        assert tool(21) == 42 and len(counter.calls) == 1
    else:
        with pytest.raises(ActionRejected) as info:
            tool(21)
        assert not isinstance(info.value, NeedsHuman)
        assert info.value.verdict.decision is Decision.ASK and "on_ask refused" in info.value.verdict.reason
        assert counter.calls == []
    ((verdict, call),) = seen
    assert verdict.decision is Decision.ASK and isinstance(call, GuardedCall)
    assert call.function.endswith("tool") and call.action == SPLIT
    assert dict(call.arguments) == {"n": 21, "flag": False} and call.context is None


def test_on_ask_error_fails_closed():
    guard, counter = make_guard(), Counter()

    def on_ask(verdict, call):
        raise RuntimeError("reviewer offline")

    tool = guarded(guard, action=SPLIT, on_ask=on_ask)(counter.tool)
    with pytest.raises(ActionRejected, match="reviewer offline"):
        tool()
    assert counter.calls == []


# ---------------------------------------------------------------------- arguments and fail closed
def test_action_and_context_read_named_arguments():
    guard, counter = StubGuard(), Counter()

    @guarded(guard, action=lambda path, /, mode="r": len(path) + (mode == "w"), context=lambda mode: mode)
    def tool(path, mode="r", *rest, **extra):
        counter.tool(path, mode)

    tool("abc")
    tool("abcd", "w")
    tool(path="ab", mode="w", other=1)
    assert guard.asked == [("r", 3), ("w", 5), ("w", 3)]
    assert len(counter.calls) == 3

    @guarded(guard, action=0, context=lambda path, **all_args: (path, all_args))
    def every(path, mode="r", *rest, **extra):
        return "ran"

    assert every("p", "w", 1, k=2) == "ran"
    assert guard.asked[-1] == (("p", {"mode": "w", "rest": (1,), "extra": {"k": 2}}), 0)


def test_unknown_parameter_raises_at_decoration():
    with pytest.raises(ValueError, match="'pth'"):
        guarded(StubGuard(), action=lambda pth: 0)(lambda path: None)
    with pytest.raises(TypeError, match="guard"):
        guarded(object(), action=0)
    with pytest.raises(TypeError, match="on_ask"):
        guarded(StubGuard(), action=0, on_ask="yes")


def _boom(**_):
    raise KeyError("no such command")


@pytest.mark.parametrize(
    "guard_kw, action, context, needle",
    [
        ({}, _boom, None, "KeyError"),  # computing the action fails
        ({}, 0, _boom, "KeyError"),  # computing the context fails
        ({"raises": MemoryError("out of memory")}, 0, None, "out of memory"),  # check raises
        ({"returns": "ALLOW"}, 0, None, "not a Verdict"),  # check returns junk
    ],
)
def test_errors_fail_closed(guard_kw, action, context, needle):
    guard, counter = StubGuard(**guard_kw), Counter()
    tool = guarded(guard, action=action, context=context)(counter.tool)
    with pytest.raises(ActionRejected, match=needle) as info:
        tool(command="curl")
    verdict = info.value.verdict
    assert verdict.decision is Decision.REJECT and math.isnan(verdict.harm_estimate)
    assert "failing closed" in verdict.reason and tool.last_verdict is verdict
    assert counter.calls == []


def test_errors_fail_closed_through_a_real_guard_and_are_recorded(tmp_path):
    guard = make_guard()
    guard.audit_path = tmp_path / "audit.jsonl"
    counter = Counter()
    bad = guarded(guard, action=lambda: 1 / 0)(counter.tool)
    out_of_range = guarded(guard, action=7)(counter.tool)
    with pytest.raises(ActionRejected, match="ZeroDivisionError"):
        bad()
    with pytest.raises(ActionRejected, match="action"):
        out_of_range()
    assert counter.calls == []
    assert [v.decision for v in guard.history] == [Decision.REJECT, Decision.REJECT]
    assert len(guard.audit_path.read_text().splitlines()) == 2  # both logged by the guard's audit


def test_sync_tool_refuses_async_callables():
    async def later():
        return 0

    counter = Counter()
    tool = guarded(StubGuard(), action=later)(counter.tool)
    with pytest.raises(ActionRejected, match="awaitable"):
        tool()
    assert counter.calls == []


# ---------------------------------------------------------------------- async
def _async_tool(guard, counter, **kw):
    @guarded(guard, **kw)
    async def tool(x, y=1):
        """Async tool."""
        await asyncio.sleep(0)
        counter.tool(x, y)
        return x * y

    return tool


def test_async_allow_reject_ask():
    guard, counter = make_guard(), Counter()
    allow = _async_tool(guard, counter, action=SAFE)
    reject = _async_tool(guard, counter, action=lambda x: HARMFUL)
    ask = _async_tool(guard, counter, action=SPLIT)
    assert allow.__name__ == "tool" and allow.__doc__ == "Async tool."
    assert asyncio.run(allow(3, y=4)) == 12 and allow.last_verdict.decision is Decision.ALLOW
    with pytest.raises(ActionRejected) as info:
        asyncio.run(reject(3))
    assert info.value.verdict.decision is Decision.REJECT
    with pytest.raises(NeedsHuman):
        asyncio.run(ask(3))
    assert counter.calls == [((3, 4), {})]


@pytest.mark.parametrize("approve", [True, False])
def test_async_on_ask_both_branches_sync_and_async_callback(approve):
    guard, counter = make_guard(), Counter()

    async def async_reviewer(verdict, call):
        await asyncio.sleep(0)
        return approve and call.arguments["x"] == 5

    sync_tool = _async_tool(guard, counter, action=SPLIT, on_ask=lambda v, call: approve)
    async_tool = _async_tool(guard, counter, action=SPLIT, on_ask=async_reviewer)
    for tool in (sync_tool, async_tool):
        if approve:
            assert asyncio.run(tool(5)) == 5
        else:
            with pytest.raises(ActionRejected, match="on_ask refused"):
                asyncio.run(tool(5))
    assert len(counter.calls) == (2 if approve else 0)


@pytest.mark.parametrize(
    "guard_kw, action", [({}, _boom), ({"raises": RuntimeError("down")}, 0), ({"returns": 0}, 0)]
)
def test_async_errors_fail_closed(guard_kw, action):
    counter = Counter()
    tool = _async_tool(StubGuard(**guard_kw), counter, action=action)
    with pytest.raises(ActionRejected, match="failing closed"):
        asyncio.run(tool(1))
    assert counter.calls == []


def test_async_check_runs_off_the_event_loop():
    """The check waits for an event only the event loop can set: on the loop thread it would time out."""
    released = threading.Event()

    class WaitingGuard(StubGuard):
        def check(self, context, action):
            self.threads.append(threading.get_ident())
            ok = released.wait(timeout=2.0)
            return Verdict(Decision.ALLOW if ok else Decision.REJECT, action, 0.0, 0.0, 0.1, "stub")

    guard, counter = WaitingGuard(), Counter()
    tool = _async_tool(guard, counter, action=0)

    async def main():
        async def release():
            await asyncio.sleep(0.01)
            released.set()

        result, _ = await asyncio.gather(tool(2, y=3), release())
        return result, threading.get_ident()

    result, loop_thread = asyncio.run(main())
    assert result == 6 and guard.threads and guard.threads[0] != loop_thread


def test_concurrent_checks_on_one_guard_are_serialised():
    guard, counter = StubGuard(delay=0.01), Counter()
    a = _async_tool(guard, counter, action=0)
    b = _async_tool(guard, counter, action=1)

    async def main():
        return await asyncio.gather(*(f(i) for i in range(4) for f in (a, b)))

    assert sorted(asyncio.run(main())) == sorted([i for i in range(4)] * 2)
    assert len(guard.asked) == 8 and guard.max_active == 1


# ---------------------------------------------------------------------- the example
def test_example_agent_runs(capsys):
    namespace = runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if not line.startswith("side effects")]
    got = [(words[0], words[1], words[3]) for words in lines]
    assert got == [
        ("read_file", "ALLOW", "ran"),
        ("send_email", "ASK", "ran"),  # internal recipient: the reviewer approves
        ("send_email", "ASK", "rejected"),  # external recipient: refused
        ("delete_records", "REJECT", "rejected"),
        ("shell", "ALLOW", "ran"),
        ("shell", "REJECT", "rejected"),  # unknown command: the action lookup fails, fail closed
    ]
    assert namespace["SIDE_EFFECTS"] == ["read notes.txt", "mail ops@example.com", "shell cat notes.txt"]
