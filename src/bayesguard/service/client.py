"""A guard behind the HTTP service, used like a local one: ``bayesguard.Client(url, key)``.

:class:`Client` has the local :class:`~bayesguard.guard.guard.Guard`'s interface where it makes sense
(``check``, ``check_all``, ``allowed_actions``, ``observe``, ``n_actions``), so it works wherever a
guard does, e.g. with :func:`~.adapters.guarded`, plus the service's own calls (``verdict``, ``asks``,
``answer``, ``info``, ``health``).

- **Fail closed.** ``check`` and ``check_all`` never raise: a connection error, a time-out, a server
  error, a refused key (401/403) or a request the service refuses as malformed (4xx) gives a REJECT
  whose reason names the error, as :meth:`Guard.check <bayesguard.guard.guard.Guard.check>` does.
- **Idempotent retries.** Every check and observation carries a fresh request id; after a connection
  error or a 5xx it is sent again with the *same* id (up to ``retries`` more times), so the service
  records it at most once and a retried check returns the verdict already recorded.
- Contexts and data may be NumPy arrays or native records (:mod:`.client_json`).

Example::

    guard = bayesguard.Client("http://127.0.0.1:8000", key)
    verdict = guard.check({"ambient": 0.4}, "open the valve")
    guard.last_record.seq, guard.last_record.posterior_version
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from ..guard.verdict import Decision, Verdict
from . import client_json
from .client_json import CheckRecord, verdict_from_json

try:  # Starlette's TestClient is built on httpx2 where it is installed: its errors are transport errors too
    import httpx2

    _TRANSPORT: tuple[type[BaseException], ...] = (httpx.TransportError, httpx2.TransportError, OSError)
    _CONNECT: tuple[type[BaseException], ...] = (httpx.ConnectError, httpx2.ConnectError, ConnectionError)
except ImportError:  # pragma: no cover - depends on the environment
    _TRANSPORT = (httpx.TransportError, OSError)
    _CONNECT = (httpx.ConnectError, ConnectionError)


class ServiceError(RuntimeError):
    """The service refused a request or could not be reached.

    Attributes:
        status: the HTTP status (None when no response came).
        code: the service's error code (``"invalid"``, ``"unauthenticated"``, ...) or ``"unavailable"``.
        field: the request field at fault, when the service names one.
        message: what went wrong, in words.
    """

    def __init__(self, status: int | None, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message if status is None else f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


class InvalidRequest(ServiceError, ValueError):
    """A 4xx other than 401/403: the request's fields are malformed, the id was reused for another
    request, or an id is unknown. ``message`` starts with the field's path."""


class Unavailable(ServiceError, ConnectionError):
    """No answer after every retry: a connection error, a time-out or a 5xx."""


class Client:
    """The guard of a bayesguard HTTP service (see the module docstring).

    Args:
        url: the service's base URL, e.g. ``"http://127.0.0.1:8000"``.
        key: an API key (sent as ``Authorization: Bearer KEY``); None when the service runs without keys.
        timeout: seconds per request attempt.
        transport: an ``httpx`` transport for the client built here (e.g. ``httpx.MockTransport``).
        retries: how many more times a request is sent after a connection error or a 5xx.
        http: an ``httpx.Client``-like object to send the requests with instead (it must have
            ``request(method, url, json=, params=, headers=)``), e.g. ``fastapi.testclient.TestClient(app)``
            for an in-process service; its own time-out applies and the caller closes it.
        backoff: seconds before the first retry, doubled before each next one.

    Attributes:
        last_record: the :class:`CheckRecord` of the last verdict returned by ``check`` / ``check_all``.
        last_records: every verdict's record from the last ``check`` / ``check_all``.
    """

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        http: Any = None,
        backoff: float = 0.05,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected an http:// or https:// URL, got {url!r}")
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise ValueError("key: expected a non-empty API key or None")
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries: expected an integer >= 0, got {retries!r}")
        if not (isinstance(backoff, int | float) and backoff >= 0):
            raise ValueError(f"backoff: expected a number of seconds >= 0, got {backoff!r}")
        if http is not None and not callable(getattr(http, "request", None)):
            raise TypeError(f"http: expected an httpx.Client-like object, got {type(http).__name__}")
        self.url = url.rstrip("/")
        self.timeout, self.retries, self.backoff = float(timeout), retries, float(backoff)
        self._headers = {"Authorization": f"Bearer {key.strip()}"} if key else {}
        self._own = http is None
        self._timeout = {"timeout": self.timeout} if http is None else {}  # a given client's own
        self._http = httpx.Client(transport=transport, timeout=self.timeout) if http is None else http
        self._info: dict[str, Any] | None = None
        self.last_record: CheckRecord | None = None
        self.last_records: list[CheckRecord] = []

    # ------------------------------------------------------------------ the guard's interface
    def check(self, context: Any, action: Any, *, id: str | None = None) -> Verdict:
        """The service's verdict on ``action`` (index or name) in ``context``; never raises.

        Args:
            context: the context (JSON form, or NumPy / native values: :mod:`.client_json`).
            action: an action index or name.
            id: the request id (default a new one); the same id with the same request returns the
                verdict already recorded.

        Returns:
            The recorded verdict (``verdict.action`` is the index), or a REJECT naming the error.
        """
        rid = uuid.uuid4().hex if id is None else id
        try:
            body = self.check_raw(context, action, id=rid)
            verdict = verdict_from_json(body["verdict"])
            asked = self._index_hint(action)
            if asked is not None and verdict.action != asked:
                raise ValueError(f"verdict: the service answered for action {verdict.action}, not {asked}")
            self.last_records = [CheckRecord.from_response(body)]
        except Exception as exc:  # fail closed
            self.last_records = [CheckRecord(rid)]
            verdict = self.fail_closed(self._index_hint(action), exc)
        self.last_record = self.last_records[0]
        return verdict

    def check_all(self, context: Any, *, id: str | None = None) -> list[Verdict]:
        """Verdicts for every action in ``context`` (ids ``ID/0``, ``ID/1``, ...); never raises.

        On an error every action gets a REJECT; when the number of actions was never learnt (the
        service was never reached), the list holds one REJECT with ``action`` None.
        """
        rid = uuid.uuid4().hex if id is None else id
        try:
            ctx = client_json.context_json(context, self.info)
            body = self._send("POST", "/v1/check_all", {"context": ctx, "id": rid})
            verdicts = [verdict_from_json(v["verdict"]) for v in body["verdicts"]]
            self.last_records = [CheckRecord.from_response(v) for v in body["verdicts"]]
            if not verdicts:
                raise ValueError("verdicts: the service returned none")
        except Exception as exc:  # fail closed
            n = None if self._info is None else int(self._info["n_actions"])
            actions: list[int | None] = [None] if n is None else list(range(n))
            verdicts = [self.fail_closed(a, exc) for a in actions]
            self.last_records = [CheckRecord(f"{rid}/{a}" if a is not None else rid) for a in actions]
        self.last_record = self.last_records[-1]
        return verdicts

    def allowed_actions(self, context: Any) -> np.ndarray:
        """``(n_actions,)`` booleans: True where the verdict is ALLOW (all False after an error)."""
        return np.array([v.allowed for v in self.check_all(context)], dtype=bool)

    def observe(self, data: Any, *, id: str | None = None) -> str:
        """Record ``data`` as an observation and update the service's posterior.

        Returns:
            The new posterior version (e.g. ``"ab12cd34ef56:3"``).

        Raises:
            InvalidRequest: the data do not decode (the message names the field); nothing is recorded.
            ServiceError: a refused key, or :class:`Unavailable` after every retry.
            ValueError, TypeError: ``data`` has no JSON form.
        """
        rid = uuid.uuid4().hex if id is None else id
        body = self._send("POST", "/v1/observe", {"data": client_json.data_json(data, self.info), "id": rid})
        return str(body["posterior_version"])

    @property
    def n_actions(self) -> int:
        """The guard's number of actions (from :meth:`info`; raises :class:`ServiceError` if unreachable)."""
        return int(self.info()["n_actions"])

    @property
    def threshold(self) -> float:
        """The harm threshold, once :meth:`info` was read (NaN before); never contacts the service."""
        return math.nan if self._info is None else float(self._info.get("threshold", math.nan))

    @property
    def rule(self) -> str:
        """The rule's name, once :meth:`info` was read (``"unknown"`` before); never contacts the service."""
        return "unknown" if self._info is None else str(self._info.get("rule", "unknown"))

    def fail_closed(self, action: int | None, exc: BaseException) -> Verdict:
        """The REJECT for an error around a check (the service cannot record it: it is local only)."""
        act = int(action) if isinstance(action, int | np.integer) and not isinstance(action, bool) else None
        reason = exc.message if isinstance(exc, ServiceError) else str(exc)
        return Verdict(
            decision=Decision.REJECT,
            action=act,
            harm_estimate=math.nan,
            posterior_harm=math.nan,
            threshold=self.threshold,
            rule=self.rule,
            reason=f"guard error, failing closed: {type(exc).__name__}: {reason}",
        )

    # ------------------------------------------------------------------ the service's own calls
    def check_raw(self, context: Any, action: Any, *, id: str | None = None) -> dict[str, Any]:
        """``POST /v1/check``: the service's response (``id``, ``decision``, ``verdict``,
        ``posterior_version``, ``seq``, ...). Raises :class:`ServiceError` (or ValueError/TypeError for a
        context or action with no JSON form) instead of failing closed."""
        rid = uuid.uuid4().hex if id is None else id
        body = {
            "context": client_json.context_json(context, self.info),
            "action": client_json.action_json(action),
            "id": rid,
        }
        return self._send("POST", "/v1/check", body)

    def verdict(self, id: str) -> dict[str, Any]:
        """``GET /v1/verdicts/{id}``: a recorded verdict, its request and the answer to it (if any)."""
        return self._send("GET", f"/v1/verdicts/{quote(id, safe='/')}")

    def asks(self, limit: int = 100) -> list[dict[str, Any]]:
        """``GET /v1/asks``: the open ASK verdicts, oldest first (needs the ``answer`` scope)."""
        return list(self._send("GET", "/v1/asks", params={"limit": int(limit)})["asks"])

    def answer(
        self, ask_id: str, *, approve: bool, data: Any = None, by: str = "", note: str = ""
    ) -> dict[str, Any]:
        """Answer an open ASK; ``data`` (an observation) also updates the posterior. Returns ``seq``,
        ``record_hash`` and the ``posterior_version`` after it. Resent only when the connection failed
        before the request went out (an answer is not idempotent)."""
        body: dict[str, Any] = {"approve": approve, "by": by, "note": note}
        if data is not None:
            body["data"] = client_json.data_json(data, self.info)
        return self._send("POST", f"/v1/asks/{quote(ask_id, safe='/')}/answer", body, resend="connect")

    def info(self) -> dict[str, Any]:
        """``GET /v1/guard``: family, actions, rule, threshold, the JSON forms and the posterior version.
        Read once and cached (call :meth:`refresh` to read it again)."""
        if self._info is None:
            self._info = self._send("GET", "/v1/guard")
        return self._info

    def refresh(self) -> dict[str, Any]:
        """Read :meth:`info` again (e.g. for the current posterior version)."""
        self._info = None
        return self.info()

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: ``status`` is ``"ok"`` or ``"degraded"`` (then ``reason`` says why)."""
        return self._send("GET", "/healthz", ok=(200, 503))

    # ------------------------------------------------------------------ transport
    def _index_hint(self, action: Any) -> int | None:
        """The action's index, without contacting the service (a name needs :meth:`info` read before)."""
        if isinstance(action, int | np.integer) and not isinstance(action, bool):
            return int(action)
        names = [] if self._info is None else list(self._info.get("action_names", ()))
        return names.index(action) if isinstance(action, str) and action in names else None

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
        resend: str = "any",
    ) -> dict[str, Any]:
        """One request, resent after a connection error or a 5xx (only a failed connect when
        ``resend="connect"``); the JSON object of a response with a status in ``ok``."""
        last: ServiceError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._http.request(
                    method, self.url + path, json=body, params=params, headers=self._headers, **self._timeout
                )
            except _TRANSPORT as exc:
                last = Unavailable(None, "unavailable", f"{type(exc).__name__}: {exc} ({method} {path})")
                if resend == "any" or isinstance(exc, _CONNECT):
                    continue
                raise last from exc
            status = response.status_code
            if status in ok:
                return _json_object(response, path)
            error = _error_of(response)
            if status >= 500:
                last = Unavailable(
                    status, error.get("code", "server"), error.get("message", response.text[:300])
                )
                if resend == "any":
                    continue
                raise last
            cls = ServiceError if status in (401, 403) else InvalidRequest
            raise cls(
                status,
                error.get("code", "http"),
                error.get("message", response.text[:300]),
                error.get("field"),
            )
        assert last is not None
        raise last

    def close(self) -> None:
        """Close the HTTP client built here (one passed as ``http`` is left to its owner)."""
        if self._own:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"


def _json_object(response: Any, path: str) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        raise ServiceError(
            response.status_code, "bad_response", f"{path}: the response is not JSON"
        ) from None
    if not isinstance(value, dict):
        raise ServiceError(response.status_code, "bad_response", f"{path}: expected a JSON object")
    return value


def _error_of(response: Any) -> dict[str, Any]:
    """The ``error`` object of an error response (empty when the body is not one)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


__all__ = ["CheckRecord", "Client", "InvalidRequest", "ServiceError", "Unavailable", "verdict_from_json"]
