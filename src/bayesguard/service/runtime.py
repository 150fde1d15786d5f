"""The guard as a service, independent of HTTP: checks, observations and answers, each recorded durably.

:class:`GuardService` owns one :class:`~.versions.VersionedGuard` and one :class:`~.store.AuditStore`.

- **One guard thread.** Every check and every posterior update runs on one worker thread, in order, so
  each check sees one consistent posterior version (named in its record) and updates never interleave
  with checks. The audit writes run on a second thread (:class:`~.committer.Committer`, group commit), so
  computing the next verdict overlaps with making the last one durable.
- **Durable before told.** A caller receives a verdict only after its record is committed.
- **Time limit.** A check that has not finished within ``timeout`` seconds (waiting included) is a
  REJECT, recorded as such; the late result is dropped unrecorded.
- **Observations through the store.** ``observe`` (and an ASK answer that carries data) first commits an
  ``"observe"`` (or ``"answer"``) record, then applies every observation record of this bundle not yet
  applied, in seq order. Several workers sharing one store (PostgreSQL) therefore apply the same
  observations in the same order; each also polls the store every ``sync_interval`` seconds. A restarted
  service catches up the same way.
- **Fail closed.** An observation that is recorded but cannot be applied leaves the service degraded:
  every check is a REJECT naming the failure, until it is fixed and the service restarted.
- **Idempotent ids.** A request id used before returns the stored result when the request is the same,
  and :class:`Conflict` when it is not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from ..guard.verdict import Verdict
from .committer import Committer
from .pending import Checked, Conflict, Pending, outcome
from .store import AuditStore, DuplicateRef, Entry, Record
from .versions import OBSERVE_KIND, Request, VersionedGuard, observe_payload

log = logging.getLogger("bayesguard.service")
T = TypeVar("T")

VERDICT_KIND = "verdict"
ANSWER_KIND = "answer"
#: Longest request id accepted.
MAX_ID = 128


class NotFound(KeyError):
    """No record with that id."""


def request_id(value: Any) -> str:
    """A caller's request id (1..128 printable ASCII characters, no ``/``), or a new UUID when None."""
    if value is None:
        return uuid.uuid4().hex
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise ValueError(f"id: expected a string of 1 to {MAX_ID} characters, got {value!r:.80}")
    if not value.isascii() or not value.isprintable() or "/" in value:
        raise ValueError("id: expected printable ASCII characters without '/'")
    return value


class GuardService:
    """A bundle's guard behind a durable audit store (see the module docstring).

    Args:
        bundle: the bundle directory or archive.
        store: an :class:`AuditStore` or its URL / SQLite path.
        timeout: seconds a check may take, waiting included, before it is a REJECT.
        sync_interval: seconds between polls of the store for other workers' observations.
    """

    def __init__(
        self,
        bundle: str | Path,
        store: AuditStore | str | Path,
        *,
        timeout: float = 5.0,
        sync_interval: float = 0.5,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        self.vg = VersionedGuard(bundle)
        self.store = store if isinstance(store, AuditStore) else AuditStore(store)
        self.timeout = float(timeout)
        self.sync_interval = float(sync_interval)
        self.degraded: str | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="bayesguard-guard")
        self._committer = Committer(self.store)
        self._last_sync = 0.0
        self._scanned = 0  # the last observation or answer record read from the store
        self.started = time.time()
        self.on_verdict: Callable[[Verdict, float], None] | None = None  # metrics hook
        self._run(self._sync, force=True).result()

    # ------------------------------------------------------------------ properties
    @property
    def bundle_hash(self) -> str:
        return self.vg.bundle_hash

    @property
    def version(self) -> str:
        return self.vg.version

    @property
    def guard(self) -> Any:
        return self.vg.guard

    def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        return self._worker.submit(fn, *args, **kwargs)

    # ------------------------------------------------------------------ observations
    def _sync(self, force: bool = False) -> None:
        """Apply this bundle's observation records not yet applied, in seq order (guard thread)."""
        now = time.monotonic()
        if not force and now - self._last_sync < self.sync_interval:
            return
        self._last_sync = now
        start = max(self.vg.last_seq, self._scanned) + 1
        found = sorted(
            (r for kind in (OBSERVE_KIND, ANSWER_KIND) for r in self.store.records(start, kind=kind)),
            key=lambda r: r.seq,
        )
        if found:  # another bundle's observations sharing the store are read once, then passed over
            self._scanned = found[-1].seq
        for rec in found:
            if rec.bundle_hash != self.bundle_hash or rec.payload.get("data") is None:
                continue
            if self.degraded:
                return
            try:
                self.vg.apply(rec.payload["data"], rec.seq)
            except Exception as exc:
                self.degraded = f"posterior update from record {rec.seq} failed: {type(exc).__name__}: {exc}"
                log.error("guard degraded: %s", self.degraded)

    def observe(self, data: Any, id: str | None = None) -> Record:
        """Record ``data`` as an observation, then update the posterior; returns the record.

        Raises:
            ValueError: the data do not decode (nothing is recorded).
            Conflict: ``id`` was used before for another request.
        """
        rid = request_id(id)
        payload = observe_payload(data)
        old = self._existing(rid, OBSERVE_KIND, payload)
        if old is not None:
            return old
        self.vg.decode_data(data)  # refuse bad data before it enters the chain
        return self._run(self._observe, rid, payload).result()

    def _observe(self, rid: str, payload: dict[str, Any]) -> Record:
        entry = Entry(OBSERVE_KIND, payload, self.version, self.bundle_hash, rid)
        rec = self._committer.append(entry)
        self._sync(force=True)
        return rec

    # ------------------------------------------------------------------ checks
    def _existing(self, rid: str, kind: str, payload: dict[str, Any] | None = None) -> Record | None:
        rec = self.store.by_ref(rid)
        if rec is None:
            return None
        same = rec.kind == kind and (payload is None or rec.payload.get("data") == payload.get("data"))
        if kind == VERDICT_KIND and payload is not None:
            stored = {k: v for k, v in (rec.payload.get("request") or {}).items() if k != "timed_out"}
            same = rec.kind == kind and stored == payload
        if not same:
            raise Conflict(f"id: {rid!r} was used before for a different request")
        return rec

    def check(self, context: Any, action: Any, id: str | None = None) -> Checked:
        """Check ``action`` in ``context`` (JSON forms, :mod:`.codecs`); the verdict once it is recorded.

        Raises:
            ValueError: a field does not decode (the message names it; nothing is recorded).
            Conflict: ``id`` was used before for another request.
        """
        rid = request_id(id)
        req = self.vg.decode_check(context, action)
        body = {"context": context, "action": action}
        # No look-up first: a reused id is found when its record is refused as a duplicate (_settle),
        # which spares every check a query and costs a retry one recomputation.
        return self._settle([rid], req, body, lambda: self._check_one(req))[0]

    def check_all(self, context: Any, id: str | None = None) -> list[Checked]:
        """Verdicts for every action (ids ``ID/0``, ``ID/1``, ...), once recorded."""
        rid = request_id(id)
        req = self.vg.decode_context(context)
        body = {"context": context, "action": None}
        n = self.guard.n_actions
        ids = [f"{rid}/{a}" for a in range(n)]
        old = self._existing(ids[0], VERDICT_KIND, {**body, "action": 0, "all": True})
        if old is not None:
            return [Checked(i, r.verdict(), r) for i in ids if (r := self.store.by_ref(i)) is not None]
        return self._settle(ids, req, body, lambda: self._check_many(req))

    def _check_one(self, req: Request) -> list[Verdict]:
        if self.degraded:
            return [self.guard.error_verdict(req.action, RuntimeError(self.degraded))]
        self._sync()
        return [self.vg.check(req)]

    def _check_many(self, req: Request) -> list[Verdict]:
        if self.degraded:
            err = RuntimeError(self.degraded)
            return [self.guard.error_verdict(a, err) for a in range(self.guard.n_actions)]
        self._sync()
        return self.vg.check_all(req)

    def _settle(
        self, ids: list[str], req: Request, body: dict[str, Any], compute: Callable[[], list[Verdict]]
    ) -> list[Checked]:
        """Run ``compute`` on the guard thread within the time limit; record and return the verdicts."""
        pending = Pending(self, ids, req, body, compute)
        try:
            futures = pending.fut.result(timeout=self.timeout)
        except FutureTimeout:
            futures = pending.expire()
        return pending.finish([outcome(f) for f in futures])

    async def _settle_async(
        self, ids: list[str], req: Request, body: dict[str, Any], compute: Callable[[], list[Verdict]]
    ) -> list[Checked]:
        """:meth:`_settle` for an event loop: waits without holding a thread."""
        pending = Pending(self, ids, req, body, compute)
        try:
            futures = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(pending.fut)), self.timeout)
        except TimeoutError:
            futures = pending.expire()
        outcomes = []
        for f in futures:
            try:
                outcomes.append(await asyncio.wrap_future(f))
            except Exception as exc:
                outcomes.append(exc)
        return pending.finish(outcomes)

    async def check_async(self, context: Any, action: Any, id: str | None = None) -> Checked:
        """:meth:`check` for an event loop (the HTTP app): the same verdict, record and errors."""
        rid = request_id(id)
        req = self.vg.decode_check(context, action)
        body = {"context": context, "action": action}
        return (await self._settle_async([rid], req, body, lambda: self._check_one(req)))[0]

    def _submit(
        self, rid: str, verdict: Verdict, body: dict[str, Any], *, version: str, timed_out: bool = False
    ) -> Future[Record]:
        request = dict(body)
        if body["action"] is None:  # one of check_all's verdicts
            request.update(action=verdict.action, all=True)
        if timed_out:
            request["timed_out"] = True
        payload = {"verdict": json.loads(verdict.to_json()), "request": request}
        return self._committer.submit(Entry(VERDICT_KIND, payload, version, self.bundle_hash, rid))

    # ------------------------------------------------------------------ verdicts and asks
    def verdict(self, id: str) -> tuple[Record, Record | None]:
        """The record of verdict ``id`` and the answer to it, if it was an ASK that was answered."""
        rec = self.store.by_ref(request_id(id) if "/" not in id else id)
        if rec is None or rec.kind != VERDICT_KIND:
            raise NotFound(f"id: no verdict {id!r}")
        return rec, self.store.by_ref(f"{id}/answer")

    def asks(self, limit: int = 100) -> list[Record]:
        """Open ASK verdicts, oldest first."""
        return self.store.open_asks(limit=limit)

    def answer(self, ask_id: str, *, approve: bool, data: Any = None, by: str = "", note: str = "") -> Record:
        """Answer an open ASK: approve or refuse it; ``data`` (an observation, optional) updates the
        posterior. Raises :class:`NotFound`, ``AskAlreadyAnswered`` or ValueError (bad fields)."""
        if not isinstance(approve, bool):
            raise ValueError(f"approve: expected true or false, got {approve!r:.80}")
        for name, value in (("by", by), ("note", note)):
            if not isinstance(value, str) or len(value) > 2000:
                raise ValueError(f"{name}: expected a string of at most 2000 characters")
        if data is not None:
            self.vg.decode_data(data)
        payload = {"approve": approve, "by": by, "note": note, "data": data}
        return self._run(self._answer, ask_id, payload).result()

    def _answer(self, ask_id: str, payload: dict[str, Any]) -> Record:
        try:
            rec = self.store.answer_ask(
                ask_id,
                payload,
                posterior_version=self.version,
                bundle_hash=self.bundle_hash,
                ref=f"{ask_id}/answer",
            )
        except KeyError as exc:
            raise NotFound(f"id: no open or answered ASK {ask_id!r}") from exc
        if payload["data"] is not None:
            self._sync(force=True)
        return rec

    # ------------------------------------------------------------------ lifetime
    def health(self) -> dict[str, Any]:
        return {
            "status": "degraded" if self.degraded else "ok",
            "reason": self.degraded,
            "posterior_version": self.version,
            "bundle_sha256": self.bundle_hash,
            "family": self.vg.family,
            "store": self.store.backend,
            "uptime_s": round(time.time() - self.started, 1),
        }

    def close(self) -> None:
        """Finish queued work, flush the audit queue and close the store."""
        self._worker.shutdown(wait=True)
        self._committer.close()
        self.store.close()

    def __enter__(self) -> GuardService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Checked", "Conflict", "DuplicateRef", "GuardService", "NotFound", "request_id"]
