"""One check on its way through :class:`~.runtime.GuardService`: computed on the guard thread, then
recorded by the committer; or, past its time limit, a REJECT recorded in its place."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..guard.verdict import Verdict
from .store import DuplicateRef, Record
from .versions import Request

log = logging.getLogger("bayesguard.service")
VERDICT_KIND = "verdict"


class Conflict(ValueError):
    """A request id was used before for a different request."""


@dataclass(frozen=True)
class Checked:
    """A recorded verdict: the request id, the verdict, and its record."""

    id: str
    verdict: Verdict
    record: Record


def outcome(fut: Future[Record]) -> Record | Exception:
    try:
        return fut.result()
    except Exception as exc:
        return exc


class Pending:
    """One check on its way: computed on the guard thread, then recorded; or, past its time limit, a
    REJECT recorded in its place while the late result is dropped unrecorded."""

    def __init__(
        self, svc: Any, ids: list[str], req: Request, body: dict[str, Any], compute: Callable
    ) -> None:
        self.svc, self.ids, self.req, self.body, self.compute = svc, ids, req, body, compute
        self.lock = threading.Lock()
        self.late = self.done = False
        self.t0 = time.perf_counter()
        self.fut: Future[list[Future[Record]] | None] = svc._run(self._job)

    def _job(self) -> list[Future[Record]] | None:
        with self.lock:
            if self.late:
                return None  # the caller already got its REJECT: do not compute at all
        verdicts = self.compute()
        with self.lock:
            if self.late:
                log.warning("check %s finished after its time limit; its verdict was dropped", self.ids[0])
                return None
            self.done = True
            version = self.svc.version
            return [
                self.svc._submit(i, v, self.body, version=version)
                for i, v in zip(self.ids, verdicts, strict=True)
            ]

    def expire(self) -> list[Future[Record]]:
        """The time limit passed: record REJECTs, unless the verdicts are already being recorded."""
        with self.lock:
            if not self.done:
                self.late = True
        if not self.late:
            futures = self.fut.result()  # computed just in time: its records are on their way
            assert futures is not None
            return futures
        exc = TimeoutError(f"the check did not finish within {self.svc.timeout:g} s")
        acts = [self.req.action] if len(self.ids) == 1 else list(range(len(self.ids)))
        verdicts = [self.svc.guard.error_verdict(a, exc) for a in acts]
        return [
            self.svc._submit(i, v, self.body, version=self.svc.version, timed_out=True)
            for i, v in zip(self.ids, verdicts, strict=True)
        ]

    def finish(self, outcomes: list[Record | Exception]) -> list[Checked]:
        """The recorded verdicts; a reused id gives the first record made under it, or Conflict."""
        out = []
        for k, (i, rec) in enumerate(zip(self.ids, outcomes, strict=True)):
            if isinstance(rec, DuplicateRef):
                rec = rec.record
                body = self.body
                asked = dict(body) if body["action"] is not None else {**body, "action": k, "all": True}
                stored = {
                    key: v for key, v in (rec.payload.get("request") or {}).items() if key != "timed_out"
                }
                if rec.kind != VERDICT_KIND or stored != asked:
                    raise Conflict(f"id: {i!r} was used before for a different request") from None
            elif isinstance(rec, Exception):
                raise rec
            out.append(Checked(i, rec.verdict(), rec))
        if self.svc.on_verdict is not None:
            for c in out:
                self.svc.on_verdict(c.verdict, time.perf_counter() - self.t0)
        return out
