"""Helpers to show the page (:mod:`.page`) outside a deployment: serve an app from a background thread on
a free loopback port, and fill a causal plant guard's store with verdicts (for the browser tests and
``benchmarks/page_screenshots.py``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import uvicorn

from .runtime import Checked, GuardService


class BackgroundServer:
    """``app`` served by uvicorn on ``127.0.0.1`` from a daemon thread; use as a context manager.

    Args:
        app: an ASGI application.
        port: the port (0: a free one, read back from :attr:`url`).
        start_timeout: seconds to wait for the server to accept connections.

    Attributes:
        url: ``http://127.0.0.1:PORT`` once started.
    """

    def __init__(self, app: Any, port: int = 0, start_timeout: float = 20.0) -> None:
        self.app, self.port, self.start_timeout = app, int(port), float(start_timeout)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> str:
        """Start serving; returns :attr:`url`.

        Raises:
            RuntimeError: the server did not start within ``start_timeout``.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self._sock = sock
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="bayesguard-page", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"uvicorn did not start on 127.0.0.1:{port} within {self.start_timeout:g} s"
                )
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        """Stop the server and wait for its thread (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


#: Ambient readings for the example plant guard (``examples/bundles/plant.toml``): mostly quiet, a few
#: near 2.0 where doing nothing is an ASK, a few high where everything is a REJECT.
PLANT_AMBIENT = tuple(
    float(x) for x in "-1.2 -0.4 0.3 0.9 1.4 2.0 -0.8 0.1 2.04 1.1 2.6 0.6 2.02 -1.6 1.8 2.06 0 3.1".split()
)


def fill_plant(
    service: GuardService, ambient: Sequence[float] = PLANT_AMBIENT, prefix: str = "req"
) -> list[Checked]:
    """Check every action of the plant guard at each ``ambient`` reading (ids ``PREFIX-NNN/A``)."""
    out: list[Checked] = []
    for i, value in enumerate(ambient):
        out.extend(service.check_all({"ambient": float(value)}, id=f"{prefix}-{i:03d}"))
    return out


__all__ = ["PLANT_AMBIENT", "BackgroundServer", "fill_plant"]
