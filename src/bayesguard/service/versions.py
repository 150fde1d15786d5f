"""Posterior versions: a guard loaded from a bundle, plus the observations applied to it in chain order.

A version is named ``"<first 12 hex of the bundle's SHA-256>:<n>"``: the bundle's posterior after the
first ``n`` ``"observe"`` records of the audit store that belong to that bundle. Every check is a pure
function of (version, request): before a version's posterior is prepared, and again before every check,
the guard's random stream is reset to one derived from (seed, n), so a check gives the same verdict in
the live service, in another worker that follows the same store, and in ``bayesguard audit replay``,
whatever checks came before it. The service, the workers and the replay all go through this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..guard.guard import Guard
from ..guard.verdict import Verdict
from . import codecs
from .bundle import load_bundle, verify_bundle

#: Kind of the audit record that holds an observation applied to the posterior.
OBSERVE_KIND = "observe"


def version_name(bundle_hash: str, n: int) -> str:
    """The name of the posterior version after ``n`` observations of the bundle ``bundle_hash``."""
    return f"{bundle_hash[:12]}:{n}"


@dataclass(frozen=True)
class Request:
    """A decoded check request: the JSON as received (for the record) and the native objects."""

    context_json: Any
    action_json: Any
    context: Any
    action: int | None


class VersionedGuard:
    """A bundle's guard and the number of observations applied to it.

    Args:
        bundle: the bundle directory (or archive); verified, never unpickled.

    Attributes:
        guard: the :class:`~bayesguard.guard.guard.Guard`.
        bundle_hash: the bundle's ``bundle_sha256``.
        n: observations applied so far.
        last_seq: the audit-store seq of the last observation applied (0 when none).
    """

    def __init__(self, bundle: str | Path) -> None:
        self.bundle = Path(bundle)
        self.manifest = verify_bundle(self.bundle)
        self.bundle_hash: str = self.manifest["bundle_sha256"]
        self.guard: Guard = load_bundle(self.bundle)
        self.family = self.manifest["family"]
        self.n = 0
        self.last_seq = 0

    @property
    def version(self) -> str:
        return version_name(self.bundle_hash, self.n)

    # ---------------------------------------------------------------- decoding
    def decode_check(self, context: Any, action: Any) -> Request:
        """Decode a check's JSON fields; ValueError/TypeError name the field (``context...``, ``action``)."""
        return Request(
            context,
            action,
            codecs.decode_context(self.guard, context),
            codecs.decode_action(self.guard, action),
        )

    def decode_context(self, context: Any) -> Request:
        """Decode a ``check_all`` context."""
        return Request(context, None, codecs.decode_context(self.guard, context), None)

    def decode_data(self, data: Any) -> Any:
        """Decode an observation (the form :func:`~.codecs.decode_data` documents) and, for a family
        updated by reweighting, check that the update leaves some posterior mass, so an observation the
        posterior cannot absorb is refused before it is recorded (ValueError naming ``data``)."""
        decoded = codecs.decode_data(self.guard, data)
        guard = self.guard
        if not hasattr(guard.family, "conditioned"):
            try:
                guard.posterior.update(guard.family, decoded)
            except ValueError as exc:
                raise ValueError(f"data: the posterior cannot absorb this observation ({exc})") from None
        return decoded

    # ---------------------------------------------------------------- deterministic steps
    def _ready(self) -> None:
        """Prepare this version's posterior from its own random stream (once per version)."""
        if not self.guard.prepared:
            self.guard.reseed(self.n, 0)
            self.guard.prepare()
        self.guard.reseed(self.n, 1)

    def check(self, request: Request) -> Verdict:
        """The verdict on ``request.action``; a pure function of (version, request). Never raises."""
        try:
            self._ready()
        except Exception as exc:  # fail closed
            return self.guard.fail_closed(request.action, exc)
        return self.guard.check(request.context, request.action)

    def check_all(self, request: Request) -> list[Verdict]:
        """Verdicts for every action in ``request.context``. Never raises."""
        try:
            self._ready()
        except Exception as exc:  # fail closed
            return [self.guard.fail_closed(a, exc) for a in range(self.guard.n_actions)]
        return self.guard.check_all(request.context)

    def apply(self, data_json: Any, seq: int) -> None:
        """Condition on one stored observation (its JSON, decoded here) and move to the next version.

        Raises:
            ValueError: the observation does not decode, or ``seq`` is not after the last one applied.
        """
        if seq <= self.last_seq:
            raise ValueError(f"seq: observation {seq} is not after the last one applied ({self.last_seq})")
        data = codecs.decode_data(self.guard, data_json)
        self.guard.reseed(self.n, 2)
        self.guard.observe(data)
        self.n += 1
        self.last_seq = seq


def observe_payload(data_json: Any, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The payload of an ``"observe"`` record: the observation as received, and where it came from."""
    return {"data": data_json, "source": source or {"api": "observe"}}
