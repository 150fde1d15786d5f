"""API keys of the service, kept in the audit store's database (table ``api_keys``, outside the chain).

A key is a random secret ``bgk_`` + :func:`secrets.token_urlsafe` (32 bytes) shown once, when made; the
store keeps only its SHA-256. A key has a unique name and scopes from :data:`SCOPES`; a revoked key
never authenticates again (its name stays taken).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Connection, insert, select, update

from .store_schema import api_keys

#: What a key may be allowed to do.
SCOPES = frozenset({"check", "observe", "answer", "admin"})
#: Every secret starts with this.
KEY_PREFIX = "bgk_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")


class ApiKey(NamedTuple):
    """A key's public facts: ``name``, ``scopes``, ``created`` (UTC ISO 8601) and ``revoked`` (when it
    was revoked, or None)."""

    name: str
    scopes: frozenset[str]
    created: str
    revoked: str | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _key(row: tuple[str, str, str, str | None]) -> ApiKey:
    name, scopes, created, revoked = row
    return ApiKey(name, frozenset(s for s in scopes.split(",") if s), created, revoked)


class ApiKeys:
    """The key methods of :class:`~.store.AuditStore` (a mix-in: the store provides the connections)."""

    # provided by the store: a read connection, and a write transaction (chain=False: not the chain's lock)
    _reading: Callable[[], AbstractContextManager[Connection]]
    _writing: Callable[..., AbstractContextManager[Connection]]

    def add_key(self, name: str, scopes: Iterable[str]) -> str:
        """Make a key and return its secret (shown only now: the store keeps only its hash).

        Args:
            name: a unique name, 1-100 of ``A-Z a-z 0-9 _ . @ -`` (starting with a letter or digit).
            scopes: one or more of :data:`SCOPES`.

        Raises:
            ValueError: a bad name or scope, or the name is taken (revoked keys keep theirs).
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"name: expected 1-100 of A-Z a-z 0-9 _ . @ - (a letter or digit first), got {name!r}"
            )
        if isinstance(scopes, str) or not isinstance(scopes, Iterable):
            raise ValueError(f"scopes: expected a collection of scope names, got {scopes!r}")
        wanted = set(scopes)
        if not wanted or not wanted <= SCOPES:
            raise ValueError(
                f"scopes: expected one or more of {sorted(SCOPES)}, got {sorted(map(str, wanted))}"
            )
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._writing(chain=False) as conn:
            if conn.execute(select(api_keys.c.name).where(api_keys.c.name == name)).first() is not None:
                raise ValueError(f"name: a key named {name!r} exists already")
            conn.execute(
                insert(api_keys).values(
                    name=name, key_hash=_digest(secret), scopes=",".join(sorted(wanted)), created=created
                )
            )
        return secret

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key whose secret this is, or None (unknown, revoked, or not a key at all)."""
        if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        digest = _digest(secret)
        query = select(api_keys.c.key_hash, api_keys.c.name, api_keys.c.scopes, api_keys.c.created).where(
            api_keys.c.key_hash == digest, api_keys.c.revoked.is_(None)
        )
        with self._reading() as conn:
            row = conn.execute(query).first()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        return _key((row[1], row[2], row[3], None))

    def revoke_key(self, name: str) -> None:
        """Revoke the key ``name`` (idempotent for a revoked key).

        Raises:
            KeyError: no key has this name.
        """
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._writing(chain=False) as conn:
            if conn.execute(select(api_keys.c.name).where(api_keys.c.name == name)).first() is None:
                raise KeyError(f"name: no API key named {name!r}")
            conn.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked.is_(None))
                .values(revoked=now)
            )

    def keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, by name."""
        query = select(api_keys.c.name, api_keys.c.scopes, api_keys.c.created, api_keys.c.revoked)
        with self._reading() as conn:
            rows = conn.execute(query.order_by(api_keys.c.name)).fetchall()
        return [_key(tuple(row)) for row in rows]


__all__ = ["KEY_PREFIX", "SCOPES", "ApiKey", "ApiKeys"]
