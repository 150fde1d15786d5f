"""In-process adapters: the :func:`guarded` decorator puts a guard in front of a tool function.

Before every call of the decorated function the guard is asked ``guard.check(context, action)``:

- ALLOW: the function runs and its value is returned;
- REJECT: :class:`ActionRejected` is raised (it carries the :class:`~bayesguard.guard.verdict.Verdict`);
  the function does not run;
- ASK: ``on_ask(verdict, call)`` decides when given (``True`` runs the function, anything else raises
  :class:`ActionRejected`); without ``on_ask`` :class:`NeedsHuman` is raised and the function does not run.

Guarantee (fail closed): the function runs only after an ALLOW verdict, or an ASK verdict that
``on_ask`` answered with ``True``. Any error while computing the action or the context, inside the
guard's ``check``, a ``check`` that returns something other than a ``Verdict``, or an error inside
``on_ask`` raises :class:`ActionRejected` with the error as the verdict's reason.

Works for plain and ``async def`` functions (and methods). For an async function the guard's ``check``
runs in a worker thread (:func:`asyncio.to_thread`) so the event loop keeps running; ``action``,
``context`` and ``on_ask`` may then also be coroutine functions. Checks on one guard object are
serialised by a lock (a :class:`~bayesguard.guard.guard.Guard` caches state and draws random numbers,
so two threads must not check it at once).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from ..guard.verdict import Decision, Verdict

F = TypeVar("F", bound=Callable[..., Any])


class GuardLike(Protocol):
    """Anything with the guard's ``check``: a local :class:`~bayesguard.guard.guard.Guard` or a client."""

    def check(self, context: Any, action: Any) -> Verdict: ...


class ActionRejected(RuntimeError):
    """The guarded function was not run. ``verdict`` is the guard's verdict (REJECT, or the ASK that was
    refused), or the fail-closed REJECT built for an error."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(f"{verdict.decision.value} action={verdict.action}: {verdict.reason}")


class NeedsHuman(ActionRejected):
    """The guard answered ASK and no ``on_ask`` callback was given; ``verdict.suggestion`` says what would
    help. A subclass of :class:`ActionRejected`, so ``except ActionRejected`` catches every unrun call."""


@dataclass(frozen=True)
class GuardedCall:
    """The call the guard was asked about, handed to ``on_ask``.

    Attributes:
        function: the wrapped function's qualified name.
        arguments: its arguments bound to parameter names (defaults applied).
        action: the action that was checked.
        context: the context it was checked in.
    """

    function: str
    arguments: Mapping[str, Any]
    action: Any
    context: Any


#: ``on_ask(verdict, call)``: ``True`` runs the call; an async function may be given for async tools.
OnAsk = Callable[[Verdict, GuardedCall], Any]


def guarded(
    guard: GuardLike,
    action: Any,
    context: Any = None,
    *,
    on_ask: OnAsk | None = None,
) -> Callable[[F], F]:
    """Decorate a tool function so that it runs only when ``guard`` allows it.

    Args:
        guard: any object with ``check(context, action) -> Verdict``.
        action: the action index, or a callable computing it from the wrapped function's arguments: the
            callable's parameters are filled by name from the call's bound arguments (defaults applied),
            e.g. ``action=lambda path: 2 if path.startswith("/etc") else 0``; ``**kwargs`` receives them
            all. A callable is always called (wrap a callable constant in ``lambda: obj``).
        context: the context, or a callable of the arguments as for ``action``; default None.
        on_ask: ``on_ask(verdict, call: GuardedCall)`` decides an ASK; only ``True`` runs the call.

    Returns:
        A decorator; the wrapper keeps the function's name and docstring (:func:`functools.wraps`), and
        ``wrapper.last_verdict`` holds the verdict of the most recent call (None before the first).

    Raises:
        TypeError: at decoration, when ``guard`` has no ``check``, ``on_ask`` is not callable, or the
            decorated object is not callable.
        ValueError: at decoration, when an ``action`` / ``context`` callable needs a parameter the
            function does not have.
    """
    if not callable(getattr(guard, "check", None)):
        raise TypeError(f"guard: expected an object with check(context, action), got {type(guard).__name__}")
    if on_ask is not None and not callable(on_ask):
        raise TypeError(f"on_ask: expected a callable on_ask(verdict, call) or None, got {on_ask!r}")

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"guarded: expected a function to decorate, got {type(func).__name__}")
        signature = inspect.signature(func)
        getters = {
            "action": _getter(action, "action", signature),
            "context": _getter(context, "context", signature),
        }
        name = getattr(func, "__qualname__", repr(func))
        lock = _lock_for(guard)

        def prepare(args: tuple, kwargs: dict) -> tuple[dict[str, Any], Any, Any]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            return arguments, getters["action"](arguments), getters["context"](arguments)

        def locked_check(ctx: Any, act: Any) -> Verdict:
            with lock:
                verdict = guard.check(ctx, act)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"guard.check returned {type(verdict).__name__}, not a Verdict")
            return verdict

        def settle(verdict: Verdict) -> Verdict:
            wrapper.last_verdict = verdict  # type: ignore[attr-defined]
            if verdict.decision is Decision.REJECT:
                raise ActionRejected(verdict)
            return verdict

        def refuse(verdict: Verdict, answer: Any, call: GuardedCall) -> None:
            if not _is_yes(answer):
                why = f"on_ask refused {call.function}: {verdict.reason}"
                raise ActionRejected(_with_reason(verdict, why))

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                act: Any = None
                try:
                    arguments, act, ctx = prepare(args, kwargs)
                    act, ctx = await _resolved(act), await _resolved(ctx)
                    verdict = await asyncio.to_thread(locked_check, ctx, act)
                except Exception as exc:  # fail closed
                    verdict = _error_verdict(guard, act, exc)
                verdict = settle(verdict)
                if verdict.decision is Decision.ASK:
                    call = GuardedCall(name, arguments, act, ctx)
                    if on_ask is None:
                        raise NeedsHuman(verdict)
                    try:
                        answer = await _resolved(on_ask(verdict, call))
                    except Exception as exc:  # fail closed
                        raise ActionRejected(_with_reason(verdict, _asked_error(exc))) from exc
                    refuse(verdict, answer, call)
                return await func(*args, **kwargs)

        else:

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                act: Any = None
                try:
                    arguments, act, ctx = prepare(args, kwargs)
                    _no_awaitable(act, "action")
                    _no_awaitable(ctx, "context")
                    verdict = locked_check(ctx, act)
                except Exception as exc:  # fail closed
                    verdict = _error_verdict(guard, act, exc)
                verdict = settle(verdict)
                if verdict.decision is Decision.ASK:
                    call = GuardedCall(name, arguments, act, ctx)
                    if on_ask is None:
                        raise NeedsHuman(verdict)
                    try:
                        answer = on_ask(verdict, call)
                        _no_awaitable(answer, "on_ask's answer")
                    except Exception as exc:  # fail closed
                        raise ActionRejected(_with_reason(verdict, _asked_error(exc))) from exc
                    refuse(verdict, answer, call)
                return func(*args, **kwargs)

        wrapper.last_verdict = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


# ---------------------------------------------------------------------- helpers
def _getter(spec: Any, field: str, signature: inspect.Signature) -> Callable[[dict[str, Any]], Any]:
    """``arguments -> value`` for a constant or a callable of the function's named arguments."""
    if not callable(spec):
        return lambda arguments: spec
    try:
        wanted = inspect.signature(spec)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{field}: cannot read the parameters of {spec!r} ({exc})") from None
    names = set(signature.parameters)
    params = list(wanted.parameters.values())
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params)
    for p in params:
        required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        if required and p.name not in names:
            raise ValueError(
                f"{field}: its callable needs the argument {p.name!r}, but the function's parameters are "
                f"{sorted(names)}"
            )

    def get(arguments: dict[str, Any]) -> Any:
        pos: list[Any] = []
        kw: dict[str, Any] = {}
        for p in params:
            if p.name not in arguments or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.kind is p.POSITIONAL_ONLY:
                pos.append(arguments[p.name])
            else:
                kw[p.name] = arguments[p.name]
        if takes_all:
            kw.update({k: v for k, v in arguments.items() if k not in kw})
        return spec(*pos, **kw)

    return get


async def _resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _no_awaitable(value: Any, field: str) -> None:
    """A sync tool cannot await: close a coroutine (no 'never awaited' warning) and fail closed."""
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise TypeError(f"{field}: got an awaitable in a sync function; decorate an async def to use it")


def _is_yes(answer: Any) -> bool:
    """Only a real boolean True (Python or NumPy) approves; "yes", 1 or None refuse."""
    return answer is True or (isinstance(answer, np.bool_) and bool(answer))


_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()
_SHARED_LOCK = threading.Lock()


def _lock_for(guard: Any) -> threading.Lock:
    """One lock per guard object, shared by every function decorated with it."""
    with _LOCKS_GUARD:
        try:
            return _LOCKS.setdefault(guard, threading.Lock())
        except TypeError:  # not weak-referenceable: one lock for all such guards
            return _SHARED_LOCK


def _error_verdict(guard: Any, action: Any, exc: Exception) -> Verdict:
    """The fail-closed REJECT for ``exc``; recorded by the guard (``fail_closed``) when it can."""
    act = action if isinstance(action, int) and not isinstance(action, bool) else None
    recorder = getattr(guard, "fail_closed", None)
    if callable(recorder):
        try:
            verdict = recorder(act, exc)
            if isinstance(verdict, Verdict) and verdict.decision is Decision.REJECT:
                return verdict
        except Exception:  # the guard cannot record it: build the verdict here
            pass
    threshold = getattr(guard, "threshold", math.nan)
    rule = getattr(guard, "rule", "unknown")
    return Verdict(
        decision=Decision.REJECT,
        action=act,
        harm_estimate=math.nan,
        posterior_harm=math.nan,
        threshold=float(threshold) if isinstance(threshold, int | float) else math.nan,
        rule=str(getattr(rule, "value", rule)),
        reason=f"guard error, failing closed: {type(exc).__name__}: {exc}",
    )


def _asked_error(exc: Exception) -> str:
    return f"on_ask failed, failing closed: {type(exc).__name__}: {exc}"


def _with_reason(verdict: Verdict, reason: str) -> Verdict:
    return replace(verdict, reason=reason)
