"""``audit replay``: recompute every stored verdict from the stored bundle and observations.

For each bundle given, the guard is rebuilt from the bundle, and the store's records are walked version
by version: every verdict recorded under version ``n`` is recomputed on the guard after the bundle's
first ``n`` observation records (in seq order), exactly as the service computed it
(:class:`~.versions.VersionedGuard`), and compared with the stored verdict field by field. Verdicts whose
check timed out live are recomputed and counted apart (their stored REJECT was the time limit's, not
the guard's); verdicts of a bundle not given are counted as not replayed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import AuditStore, Record
from .versions import OBSERVE_KIND, VersionedGuard

#: Numbers compared with this relative tolerance (the same machine and libraries give equal bits; BLAS
#: differences between machines do not).
RTOL = 1e-9
_IGNORED = {"reason"}  # a reason may quote an error message verbatim; its decision and numbers are compared


@dataclass
class Difference:
    """One verdict that replays differently: its seq, id, the field, the stored and recomputed values."""

    seq: int
    ref: str | None
    field: str
    stored: Any
    replayed: Any


@dataclass
class ReplayReport:
    """What replay found."""

    checked: int = 0
    same: int = 0
    timed_out: int = 0
    not_replayed: int = 0
    observations: int = 0
    differences: list[Difference] = field(default_factory=list)
    bundles: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        head = (
            f"replayed {self.checked} verdicts over {self.observations} observations: {self.same} identical, "
            f"{len(self.differences)} different, {self.timed_out} timed out live, "
            f"{self.not_replayed} from bundles not given"
        )
        lines = [head] + [
            f"  seq {d.seq} ({d.ref}): {d.field}: stored {d.stored!r}, replayed {d.replayed!r}"
            for d in self.differences[:20]
        ]
        return "\n".join(lines)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if isinstance(a, bool) or isinstance(b, bool):
            return a == b
        return math.isclose(float(a), float(b), rel_tol=RTOL, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _is_observation(rec: Record) -> bool:
    return rec.kind in (OBSERVE_KIND, "answer") and rec.payload.get("data") is not None


def replay(store: AuditStore, bundles: list[str | Path], *, progress: bool = False) -> ReplayReport:
    """Recompute every verdict of ``store`` made by one of ``bundles``; see the module docstring."""
    report = ReplayReport()
    guards = {}
    for b in bundles:
        vg = VersionedGuard(b)
        guards[vg.bundle_hash] = vg
        report.bundles[vg.bundle_hash] = str(b)
    by_version: dict[tuple[str, int], list[int]] = defaultdict(list)
    observations: dict[str, list[Record]] = defaultdict(list)
    for rec in store.records():
        if rec.bundle_hash not in guards:
            report.not_replayed += rec.kind == "verdict"
            continue
        if _is_observation(rec):
            observations[rec.bundle_hash].append(rec)
        elif rec.kind == "verdict":
            n = int(rec.posterior_version.rpartition(":")[2])
            by_version[(rec.bundle_hash, n)].append(rec.seq)
    for bundle_hash, vg in guards.items():
        obs = observations[bundle_hash]
        top = max([n for (h, n) in by_version if h == bundle_hash], default=0)
        for n in range(top + 1):
            for seq in by_version.get((bundle_hash, n), []):
                _replay_one(vg, store.get(seq), report)
            if n < len(obs):
                vg.apply(obs[n].payload["data"], obs[n].seq)
                report.observations += 1
    return report


def _replay_one(vg: VersionedGuard, rec: Record, report: ReplayReport) -> None:
    req = rec.payload.get("request") or {}
    stored = rec.payload.get("verdict", rec.payload)
    report.checked += 1
    ref = getattr(rec, "ref", None)
    try:
        if "context" not in req or req.get("action") is None:
            raise ValueError("the record holds no request to replay")
        request = vg.decode_check(req["context"], req["action"])
        if req.get("all"):  # recorded from check_all: one batched evaluation, as it was made
            verdict = vg.check_all(vg.decode_context(req["context"]))[request.action]
        else:
            verdict = vg.check(request)
        fresh = json.loads(verdict.to_json())
    except Exception as exc:  # a record that cannot be replayed is a difference, not a crash
        report.differences.append(Difference(rec.seq, ref, "request", None, f"{type(exc).__name__}: {exc}"))
        return
    if req.get("timed_out"):
        report.timed_out += 1
        return
    for key in sorted(set(stored) | set(fresh)):
        if key in _IGNORED:
            continue
        if not _same(stored.get(key), fresh.get(key)):
            report.differences.append(Difference(rec.seq, ref, key, stored.get(key), fresh.get(key)))
            return
    report.same += 1
