"""Sessions for the page (:mod:`.page`): the key cookie, CSRF tokens and signed flash messages.

- **Key cookie.** ``/ui/login`` stores the pasted API key in the cookie ``bayesguard_key`` (HttpOnly,
  SameSite=Strict, Secure over HTTPS); the API's :func:`~.http_support.secret_from` reads the same cookie.
  Viewing needs the scope ``check``, answering an ASK needs ``answer`` (``admin`` holds both).
- **CSRF.** Every form that changes state carries ``csrf``: an HMAC-SHA256 of the session cookie under a
  per-process secret, checked in constant time. A page from another site can neither read it nor guess it.
- **Flash.** A message for the next page travels in a short-lived cookie signed with the same secret, so
  a crafted link cannot make the page claim what did not happen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .http_support import SCOPES, ApiError, KeyRing, authorize, secret_from

#: The cookie holding the API key (the API reads it too).
KEY_COOKIE = "bayesguard_key"
#: The cookie holding a signed one-shot message.
FLASH_COOKIE = "bayesguard_flash"


class PageError(Exception):
    """An error the page shows as HTML with ``status`` (never a stack trace)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class LoginRequired(Exception):
    """No key, or an unknown or revoked one: the page sends the browser to ``/ui/login``."""

    def __init__(self, message: str, *, stale: bool = False) -> None:
        super().__init__(message)
        self.message, self.stale = message, stale


class PageAuth:
    """Key checks, CSRF tokens and flash signing for one process.

    Args:
        ring: the service's key ring, or None when authentication is off (every scope is granted; forms
            still carry CSRF tokens, since a loopback service is reachable from any page in the browser).
        secret: the HMAC key (tests); default 32 random bytes, so tokens die with the process.
    """

    def __init__(self, ring: KeyRing | None, secret: bytes | None = None) -> None:
        self.ring = ring
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    @property
    def enabled(self) -> bool:
        return self.ring is not None

    # ------------------------------------------------------------------ keys
    def require(self, request: Request, scope: str) -> frozenset[str]:
        """The request's scopes, once it holds ``scope``.

        Raises:
            LoginRequired: no key, or an unknown or revoked one.
            PageError: 403 when the key lacks ``scope``.
        """
        if self.ring is None:
            return frozenset(SCOPES)
        secret = secret_from(request.headers, request.cookies)
        try:
            authorize(self.ring, secret, scope)
        except ApiError as exc:
            if exc.status == 401:
                raise LoginRequired(
                    "Paste an API key to continue." if not secret else "That key is unknown or was revoked.",
                    stale=bool(secret),
                ) from None
            raise PageError(exc.status, f"This key lacks the {scope!r} scope needed here.") from None
        return self.ring.scopes(secret or "") or frozenset()

    def check_key(self, secret: str) -> None:
        """Raise PageError unless ``secret`` is a valid key that may view the page (scope ``check``)."""
        if self.ring is None:
            return
        try:
            authorize(self.ring, secret.strip() or None, "check")
        except ApiError as exc:
            if exc.status == 401:
                raise PageError(401, "That key is unknown or was revoked.") from None
            raise PageError(403, "That key lacks the 'check' scope needed to view the page.") from None

    def set_key(self, response: Response, request: Request, secret: str) -> None:
        """Store the key in the session cookie."""
        response.set_cookie(
            KEY_COOKIE,
            secret.strip(),
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear_key(response: Response) -> None:
        response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")

    # ------------------------------------------------------------------ CSRF
    def _mac(self, purpose: str, value: str) -> str:
        msg = purpose.encode() + b"\0" + value.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def csrf_token(self, request: Request) -> str:
        """The CSRF token of this request's session (the key cookie, or none)."""
        return self._mac("csrf", request.cookies.get(KEY_COOKIE, ""))

    def check_csrf(self, request: Request, token: Any) -> None:
        """Raise PageError 403 unless ``token`` is this session's CSRF token."""
        if not isinstance(token, str) or not hmac.compare_digest(token, self.csrf_token(request)):
            raise PageError(403, "csrf: the form's token is missing or stale; reload the page and try again.")

    # ------------------------------------------------------------------ flash
    def set_flash(self, response: Response, request: Request, message: str) -> None:
        """Attach a signed one-shot ``message`` for the next page."""
        body = base64.urlsafe_b64encode(message.encode("utf-8")).decode("ascii")
        response.set_cookie(
            FLASH_COOKIE,
            f"{body}.{self._mac('flash', body)[:32]}",
            max_age=120,
            httponly=True,
            samesite="strict",
            path="/ui",
            secure=request.url.scheme == "https",
        )

    def read_flash(self, request: Request) -> str | None:
        """The flash message sent with ``request``, if its signature holds."""
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        body, _, mac = raw.partition(".")
        if not hmac.compare_digest(mac, self._mac("flash", body)[:32]):
            return None
        try:
            return base64.urlsafe_b64decode(body.encode("ascii")).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            return None

    @staticmethod
    def clear_flash(response: Response) -> None:
        response.delete_cookie(FLASH_COOKIE, path="/ui", httponly=True, samesite="strict")


def safe_next(value: Any, default: str) -> str:
    """A redirect target from a form: a path under ``/ui`` only (never another host)."""
    if isinstance(value, str) and value.startswith("/ui") and "//" not in value and "\\" not in value:
        if value.isprintable() and len(value) <= 2000:
            return value
    return default
