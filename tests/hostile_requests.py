"""Malformed and hostile requests for the HTTP service (used by tests/test_service_fuzz.py and
benchmarks/service_fuzz.py).

Every request made here is invalid by construction, so the only right answer is a 4xx with an error
body: never a 2xx, never a 5xx, never ALLOW. Each item is ``(category, method, path, headers, body)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

CATEGORIES = (
    "bad_json",
    "wrong_type",
    "nan_inf",
    "huge",
    "unknown_action",
    "missing_field",
    "extra_field",
    "bad_key",
    "wrong_scope",
    "replayed_id",
    "bad_id",
    "wrong_route",
    "bad_observe",
    "bad_answer",
)


def _rand_text(rng: np.random.Generator, n: int) -> str:
    return "".join(chr(int(c)) for c in rng.integers(32, 0x2FF, size=n))


def _wrong_values(rng: np.random.Generator) -> list[Any]:
    return [
        "x",
        "",
        True,
        False,
        None,
        [],
        {},
        [[]],
        1.5,
        -1,
        10**30,
        [1, "a"],
        {"a": [1, 2]},
        _rand_text(rng, 20),
        [[True] * 3] * 3,
        {"__class__": "os.system"},
        "<script>alert(1)</script>",
    ]


class Hostile:
    """Generates hostile requests for one guard.

    Args:
        context: a valid context (JSON) of the guard, whose mutations are tried.
        n_actions: the guard's number of actions.
        keys: ``{"good": KEY with every scope, "observe_only": KEY without 'check', "check_only": KEY}``.
        used_id: a request id already recorded (with ``context`` and action 0).
    """

    def __init__(self, context: Any, n_actions: int, keys: dict[str, str], used_id: str) -> None:
        self.context, self.n_actions, self.keys, self.used_id = context, n_actions, keys, used_id

    def headers(self, key: str | None = "good") -> dict[str, str]:
        h = {"content-type": "application/json"}
        if key is not None:
            h["authorization"] = f"Bearer {self.keys.get(key, key)}"
        return h

    def _check(self, body: Any, key: str | None = "good", raw: bytes | None = None) -> tuple:
        data = raw if raw is not None else json.dumps(body, allow_nan=True).encode()
        return ("POST", "/v1/check", self.headers(key), data)

    def one(self, rng: np.random.Generator, category: str) -> tuple[str, str, str, dict[str, str], bytes]:
        ctx, n = self.context, self.n_actions
        good = json.dumps({"context": ctx, "action": 0}).encode()
        if category == "bad_json":
            choice = int(rng.integers(7))
            raw = [
                good[: int(rng.integers(1, len(good)))],
                bytes(rng.integers(0, 256, size=int(rng.integers(1, 200))).astype(np.uint8)),
                b"\xff\xfe" + good,
                b"",
                good + b"}garbage",
                b"[" * 5000 + b"]" * 5000,
                json.dumps([{"context": ctx, "action": 0}]).encode(),
            ][choice]
            return (category, *self._check(None, raw=raw))
        if category == "wrong_type":
            vals = _wrong_values(rng)
            v = vals[int(rng.integers(len(vals)))]
            body = {"context": ctx, "action": v} if rng.random() < 0.5 else {"context": v, "action": 0}
            if body.get("action") in (0, 1) and not isinstance(body["action"], bool):  # -1/1.5 etc. only
                body["action"] = "not-an-action"
            return (category, *self._check(body))
        if category == "nan_inf":
            lit = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"][int(rng.integers(5))]
            text = json.dumps({"context": ctx, "action": 0})
            nums = [i for i, c in enumerate(text) if c.isdigit()]
            if nums:
                i = nums[int(rng.integers(len(nums)))]
                j = i
                while j < len(text) and (text[j].isdigit() or text[j] in ".-e"):
                    j += 1
                text = text[:i] + lit + text[j:]
            else:
                text = f'{{"context": {lit}, "action": 0}}'
            if text == json.dumps({"context": ctx, "action": 0}):
                text = f'{{"context": {lit}, "action": 0}}'
            return (category, *self._check(None, raw=text.encode()))
        if category == "huge":
            size = int(rng.integers(1 << 20, 3 << 20))
            raw = json.dumps({"context": ctx, "action": 0, "id": "x" * size}).encode()
            return (category, *self._check(None, raw=raw))
        if category == "unknown_action":
            v = [n, n + 7, -1, -n, "no-such-action", 2**63][int(rng.integers(6))]
            return (category, *self._check({"context": ctx, "action": v}))
        if category == "missing_field":
            return (category, *self._check({"context": ctx} if rng.random() < 0.5 else {}))
        if category == "extra_field":
            return (category, *self._check({"context": ctx, "action": 0, _rand_text(rng, 5) + "_x": 1}))
        if category == "bad_key":
            ascii_junk = "".join(chr(int(c)) for c in rng.integers(33, 127, size=40))
            key = [None, "bgk_" + ascii_junk, "", "x" * 5000][int(rng.integers(4))]
            method, path, headers, body = self._check({"context": ctx, "action": 0}, key=key)
            if key == "":
                headers["authorization"] = "Basic " + ascii_junk[:10]
            return (category, method, path, headers, body)
        if category == "wrong_scope":
            which = int(rng.integers(3))
            if which == 0:
                return (category, *self._check({"context": ctx, "action": 0}, key="observe_only"))
            if which == 1:
                return (
                    category,
                    "POST",
                    "/v1/observe",
                    self.headers("check_only"),
                    json.dumps({"data": None}).encode(),
                )
            return (category, "GET", "/v1/asks", self.headers("check_only"), b"")
        if category == "replayed_id":
            a = int(rng.integers(1, max(n, 2)))
            return (
                category,
                *self._check(
                    {
                        "context": ctx,
                        "action": a % n if n > 1 else 0,
                        "id": self.used_id,
                        **({} if n > 1 else {"context": _wrong_values(rng)[0]}),
                    }
                ),
            )
        if category == "bad_id":
            rid = ["", "a/b", "x" * 200, "é" * 5, 7, ["x"], "\n"][int(rng.integers(7))]
            return (category, *self._check({"context": ctx, "action": 0, "id": rid}))
        if category == "wrong_route":
            method, path = [
                ("GET", "/v1/check"),
                ("POST", "/v1/nope"),
                ("GET", "/v1/verdicts/no-such-id"),
                ("DELETE", "/v1/asks"),
                ("PUT", "/v1/observe"),
            ][int(rng.integers(5))]
            return (category, method, path, self.headers(), good)
        if category == "bad_observe":
            vals = _wrong_values(rng) + [{"rows": []}, {"features": [], "rewards": []}]
            v = vals[int(rng.integers(len(vals)))]
            if v is None:
                v = "none"
            return (category, "POST", "/v1/observe", self.headers(), json.dumps({"data": v}).encode())
        if category == "bad_answer":
            which = int(rng.integers(3))
            if which == 0:
                return (
                    category,
                    "POST",
                    "/v1/asks/no-such-ask/answer",
                    self.headers(),
                    json.dumps({"approve": True}).encode(),
                )
            body = {"approve": "yes"} if which == 1 else {"approve": True, "by": 5}
            return (
                category,
                "POST",
                f"/v1/asks/{self.used_id}/answer",
                self.headers(),
                json.dumps(body).encode(),
            )
        raise ValueError(f"category: unknown {category!r}")

    def stream(
        self, rng: np.random.Generator, n: int
    ) -> Iterator[tuple[str, str, str, dict[str, str], bytes]]:
        """``n`` hostile requests, categories in turn (huge bodies capped at 1 in 50)."""
        cats = [c for c in CATEGORIES if c != "huge"]
        for i in range(n):
            yield self.one(rng, "huge" if i % 50 == 49 else cats[i % len(cats)])
