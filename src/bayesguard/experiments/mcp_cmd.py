"""``bayesguard mcp``: the guard as an MCP server over stdio (:mod:`bayesguard.service.mcp_server`).

Either serve a bundle with a local audit store::

    bayesguard mcp guard-bundle --store audit.db

or front a running HTTP service (``bayesguard serve``)::

    BAYESGUARD_KEY=... bayesguard mcp --url http://127.0.0.1:8000

An MCP client (an agent's host) starts the command and speaks MCP on its stdin/stdout; everything else
the command says goes to stderr. The API key is read from ``--key`` or, better (a command line is
visible to other users), from the ``BAYESGUARD_KEY`` environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from .registry import Option, register
from .report import Result

KEY_ENV = "BAYESGUARD_KEY"


def build_server(args: argparse.Namespace) -> tuple[Any, Callable[[], None], str]:
    """The MCP server the options describe, the function that releases what it holds, and a line
    saying what it serves.

    Raises:
        ValueError: neither or both of a bundle and ``--url`` given.
    """
    from ..service.mcp_server import create_server

    if (args.bundle is None) == (args.url is None):
        raise ValueError("bundle: give a guard bundle, or --url of a running service (not both)")
    if args.url is not None:
        from ..service.client import Client

        client = Client(args.url, args.key or os.environ.get(KEY_ENV) or None, timeout=args.timeout)
        return create_server(client), client.close, f"serving {args.url} over MCP (stdio)"
    from ..service.runtime import GuardService

    service = GuardService(args.bundle, args.store, timeout=args.timeout)
    line = f"serving {args.bundle} ({service.version}) over MCP (stdio); audit store {service.store.url}"
    return create_server(service), service.close, line


@register(
    "mcp",
    help="serve a guard to agents over MCP (stdio): tools check_action, observe, describe_guard",
    options=(
        Option("bundle", "the guard bundle (a directory or archive from `bayesguard fit`)", None, str),
        Option(
            "--store", "the audit store: a SQLite file, sqlite:///PATH or postgresql://...", "audit.db", str
        ),
        Option("--url", "front this running HTTP service instead of a bundle", None, str),
        Option("--key", f"the service's API key (default: ${KEY_ENV})", None, str),
        Option("--timeout", "seconds a check may take before it is a REJECT", 5.0, float),
        Option("--out", "directory for a JSON record of the session, mcp.json (empty: write none)", "", str),
    ),
)
def mcp(args: argparse.Namespace) -> Result:
    """Serve over stdio until the client closes the connection."""
    server, close, line = build_server(args)
    print(line, file=sys.stderr)  # stdout carries the protocol
    try:
        server.run("stdio")
    finally:
        close()
    return Result(settings={"bundle": args.bundle, "url": args.url}, record="mcp.json" if args.out else None)
