"""``bayesguard serve BUNDLE``, ``bayesguard keys add|list|revoke`` and ``bayesguard audit replay``.

``serve`` runs the HTTP service (:mod:`bayesguard.service.app`) under uvicorn until it is stopped; the
audit store is a SQLite file by default (``--store audit.db``) or PostgreSQL by URL. Requests need an API
key (``bayesguard keys add NAME --scopes check,observe``), unless ``--no-auth`` (loopback demos only).
"""

from __future__ import annotations

import argparse
from typing import Any

from .registry import Option, register
from .report import Result


def _scopes(text: str) -> list[str]:
    from ..service.http_support import SCOPES

    scopes = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in scopes if s not in SCOPES]
    if not scopes or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {list(SCOPES)}, got {text!r}")
    return scopes


_OUT = Option("--out", "directory for a JSON record of the run (empty: write none)", "", str)
_STORE = Option(
    "--store", "the audit store: a SQLite file, sqlite:///PATH or postgresql://...", "audit.db", str
)


@register(
    "serve",
    help="serve a guard bundle over HTTP (check, observe, the ASK queue, the page, metrics)",
    options=(
        Option(
            "bundle", "the guard bundle (a directory or archive from `bayesguard fit`)", "guard-bundle", str
        ),
        _STORE,
        Option("--host", "address to listen on", "127.0.0.1", str),
        Option("--port", "port to listen on", 8000, int),
        Option("--timeout", "seconds a check may take before it is a REJECT", 5.0, float),
        Option("--max-body", "largest request body in bytes", 1 << 20, int),
        Option("--no-auth", "accept requests without an API key (loopback demos only)", False),
        Option("--log-level", "uvicorn's log level", "warning", str),
        Option(
            "--workers",
            "server processes sharing the store, each with its own copy of the guard (docs/scaling.md)",
            1,
            int,
        ),
        _OUT,
    ),
)
def serve(args: argparse.Namespace) -> Result:
    """Serve until interrupted."""
    import uvicorn

    from ..service.app import SERVE_ENV, create_app
    from ..service.runtime import GuardService

    if args.no_auth and args.host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("--no-auth: only on a loopback --host (127.0.0.1)")
    if args.workers < 1:
        raise ValueError(f"--workers: expected at least 1, got {args.workers}")
    where = f"http://{args.host}:{args.port}/"
    if args.workers > 1:  # each worker process builds its own service from the environment
        import json
        import os

        from ..service.bundle import verify_bundle

        verify_bundle(args.bundle)  # fail here, not in every worker
        os.environ[SERVE_ENV] = json.dumps(
            {
                "bundle": str(args.bundle),
                "store": args.store,
                "timeout": args.timeout,
                "max_body": args.max_body,
                "auth": not args.no_auth,
            }
        )
        print(f"serving {args.bundle} with {args.workers} workers on {where}; audit store {args.store}")
        _serve_workers(uvicorn, args)
        return Result(settings={"bundle": args.bundle, "store": args.store}, notes=("server stopped",))
    service = GuardService(args.bundle, args.store, timeout=args.timeout)
    try:
        if not args.no_auth and not service.store.keys():
            print(
                f"no API keys in {service.store.url}: create one with `bayesguard keys add NAME --store ...`"
            )
        app = create_app(service, auth=not args.no_auth, max_body=args.max_body)
        print(f"serving {args.bundle} ({service.version}) on {where}; audit store {service.store.url}")
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        service.close()
    return Result(settings={"bundle": args.bundle, "store": args.store}, notes=("server stopped",))


def _serve_workers(uvicorn: Any, args: argparse.Namespace) -> None:
    """Run ``args.workers`` uvicorn worker processes with Prometheus metrics summed over them: a fresh
    directory in ``$PROMETHEUS_MULTIPROC_DIR`` for their metric files, removed when they stop.

    uvicorn starts its workers with multiprocessing's *spawn*: each is a new interpreter that inherits
    this environment and imports prometheus_client afresh, so the variable is set before their import
    (prometheus_client picks multiprocess mode at import), whatever this process imported already.
    """
    import os
    import shutil
    import tempfile

    from ..service.http_support import MULTIPROC_ENV

    previous = os.environ.get(MULTIPROC_ENV)
    metrics_dir = tempfile.mkdtemp(prefix="bayesguard-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            "bayesguard.service.app:app_from_env",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous


@register(
    "add",
    group="keys",
    help="create an API key (printed once; only its SHA-256 is stored)",
    options=(
        Option("name", "a name for the key (unique)", "default", str),
        Option("--scopes", "comma-separated: check, observe, answer, admin", ["check"], _scopes),
        _STORE,
        Option("--out", "unused: the secret is never written to a file", "", str),
    ),
)
def keys_add(args: argparse.Namespace) -> Result:
    from ..service.store import AuditStore

    with AuditStore(args.store) as store:
        secret = store.add_key(args.name, args.scopes)
    return Result(
        settings={"name": args.name, "scopes": list(args.scopes), "store": args.store},
        notes=(f"API key {args.name!r} ({','.join(args.scopes)}): {secret}", "it is shown only this once"),
    )


@register(
    "list", group="keys", help="list API keys (names and scopes, never secrets)", options=(_STORE, _OUT)
)
def keys_list(args: argparse.Namespace) -> Result:
    from ..service.store import AuditStore

    with AuditStore(args.store) as store:
        keys = store.keys()
    notes = tuple(f"{k.name}: {','.join(sorted(k.scopes))} (created {k.created})" for k in keys)
    return Result(settings={"store": args.store, "n": len(keys)}, notes=notes or ("no keys",))


@register(
    "revoke",
    group="keys",
    help="revoke an API key by name",
    options=(Option("name", "the key's name", "default", str), _STORE, _OUT),
)
def keys_revoke(args: argparse.Namespace) -> Result:
    from ..service.store import AuditStore

    with AuditStore(args.store) as store:
        store.revoke_key(args.name)
    return Result(settings={"name": args.name}, notes=(f"revoked {args.name!r}",))


@register(
    "replay",
    group="audit",
    help="recompute every stored verdict from the stored bundle and observations; report differences",
    options=(
        Option(
            "store", "the audit store: a SQLite file, sqlite:///PATH or postgresql://...", "audit.db", str
        ),
        Option(
            "--bundle", "the bundle(s) the verdicts were made with (comma-separated)", "guard-bundle", str
        ),
        Option("--out", "directory for a JSON record, audit_replay.json (empty: write none)", "", str),
    ),
)
def replay(args: argparse.Namespace) -> Result:
    """Exit status 0 when every replayed verdict is identical, 1 otherwise."""
    from pathlib import Path

    from ..service.replay import replay as run_replay
    from ..service.store import AuditStore, sqlite_path

    if "://" not in args.store or args.store.startswith("sqlite"):
        if not Path(sqlite_path(args.store)).is_file():
            raise ValueError(f"store: no audit store at {args.store!r}")
    bundles = [b for b in args.bundle.split(",") if b]
    with AuditStore(args.store) as store:
        report = run_replay(store, bundles)
    settings = {
        "ok": report.ok,
        "checked": report.checked,
        "identical": report.same,
        "different": len(report.differences),
        "timed_out": report.timed_out,
        "not_replayed": report.not_replayed,
        "observations": report.observations,
        "first_differences": [vars(d) for d in report.differences[:20]],
    }
    return Result(
        settings=settings,
        record="audit_replay.json" if args.out else None,
        notes=(str(report),),
        status=0 if report.ok else 1,
    )
