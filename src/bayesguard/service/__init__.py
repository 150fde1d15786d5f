"""Deploying a guard.

- a bundle on disk (:mod:`.bundle`) fitted from a TOML config (:mod:`.config`), for every family;
- ``@guarded`` for tool functions (:mod:`.adapters`);
- the audit store (:mod:`.store`: SQLite or PostgreSQL, a hash chain, the ASK queue, API keys);
- the service (:mod:`.runtime`), its HTTP app (:mod:`.app`), the page (:mod:`.page`), the HTTP
  :class:`~.client.Client` and the MCP server (:mod:`.mcp_server`).

The names that need the ``[service]`` extra (SQLAlchemy, FastAPI, httpx, mcp) are imported on first use,
so ``import bayesguard.service`` (bundles, ``@guarded``) works without it.
"""

from importlib import import_module
from typing import Any

from .adapters import ActionRejected, GuardedCall, NeedsHuman, guarded
from .bundle import Fitted, build_bundle, fit_guard, load_bundle, verify_bundle
from .chain import Head, VerifyResult
from .config import FitConfig, Sampler, load_config, parse_config

#: Names imported on first use, and the module that holds each.
_LAZY = {
    "AuditStore": ".store",
    "Record": ".store",
    "Entry": ".store",
    "GuardService": ".runtime",
    "Client": ".client",
    "create_app": ".app",
    "create_server": ".mcp_server",
    "replay": ".replay",
}

__all__ = [
    "ActionRejected",
    "AuditStore",
    "Client",
    "Entry",
    "FitConfig",
    "Fitted",
    "GuardService",
    "GuardedCall",
    "Head",
    "NeedsHuman",
    "Record",
    "Sampler",
    "VerifyResult",
    "build_bundle",
    "create_app",
    "create_server",
    "fit_guard",
    "guarded",
    "load_bundle",
    "load_config",
    "parse_config",
    "replay",
    "verify_bundle",
]


def __getattr__(name: str) -> Any:
    """Import the ``[service]`` names on first use (see the module docstring)."""
    if name in _LAZY:
        try:
            module = import_module(_LAZY[name], __name__)
        except ImportError as exc:
            raise ImportError(
                f"bayesguard.service.{name} needs the [service] extra: "
                f"pip install 'bayesguard[service]' ({exc})"
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
