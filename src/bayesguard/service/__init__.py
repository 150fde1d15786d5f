"""Deploying a guard: a bundle on disk (:mod:`.bundle`) fitted from a TOML config (:mod:`.config`)."""

from .adapters import ActionRejected, GuardedCall, NeedsHuman, guarded
from .bundle import Fitted, build_bundle, fit_guard, load_bundle, verify_bundle
from .chain import Head, VerifyResult
from .config import FitConfig, Sampler, load_config, parse_config
from .store import AuditStore, Record

__all__ = [
    "ActionRejected",
    "AuditStore",
    "Client",
    "FitConfig",
    "Fitted",
    "GuardedCall",
    "Head",
    "NeedsHuman",
    "Record",
    "Sampler",
    "VerifyResult",
    "build_bundle",
    "fit_guard",
    "guarded",
    "load_bundle",
    "load_config",
    "parse_config",
    "verify_bundle",
]


def __getattr__(name: str) -> type:
    """``Client`` is imported on first use, so importing this package does not import httpx."""
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
