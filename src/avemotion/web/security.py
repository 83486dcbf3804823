"""Safe defaults for a served app: the Host header checked, an access token off loopback, security headers.

:class:`Guard` wraps the ASGI app (a pure ASGI middleware, so event streams pass through unbuffered):

- **Host allow-list**: a request whose ``Host`` is not a loopback name, the bound address, the machine's own
  name or addresses (when bound to all interfaces) or one of ``allowed_hosts`` gets 400. A page on another
  site cannot reach a local server through DNS rebinding (its requests carry the attacker's host name).
- **Access token** (``settings.token``, set by ``avemotion serve`` when bound off loopback): every request
  must carry it as ``?token=``, the ``avemotion_token`` cookie (set when the query form is used, so the page's
  own requests carry it) or ``Authorization: Bearer``; else 401.
- **Headers** on every response: a Content-Security-Policy without inline script (the API docs page gets the
  hashes of its own inline script), frame denial, ``nosniff``, no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from avemotion.web.settings import LOOPBACK_HOSTS, WebSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "avemotion_token"
CSP = ("default-src 'self'; script-src 'self'{script}; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin")]
#: the session report (GET /api/jobs/ID/session.html) is shown in a frame of the page: its own inline style and
#: script (time stamps that ask the page to seek), framed by this origin only, and sandboxed (an opaque origin:
#: no cookies, no requests, nothing of the page's)
REPORT_PATH = re.compile(r"^/api/jobs/[^/]+/session\.html$")
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-scripts")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def allowed_hosts(settings: WebSettings) -> set[str] | None:
    """Host names (lower case, without port) the server answers to; None: any (``'*'`` allowed)."""
    if "*" in settings.allowed_hosts:
        return None
    hosts = {*LOOPBACK_HOSTS, *(h.lower().strip("[]") for h in settings.allowed_hosts)}
    bind = settings.bind_host.strip("[]")
    if bind in WILDCARD_BINDS:
        hosts |= _own_names()
    else:
        hosts.add(bind.lower())
    return hosts


def _own_names() -> set[str]:
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    return names


def host_name(header: str) -> str:
    """``example.org:8000`` -> ``example.org``; ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware applying the module's rules to ``app``."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.hosts = allowed_hosts(settings)
        self.token = settings.token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if self.hosts is not None and host not in self.hosts:
            await _refuse(send, 400, "host", f"this server does not answer to the host name {host!r}; "
                          "start it with --allow-host NAME to accept that name")
            return
        set_cookie = False
        if self.token is not None:
            given = _query_token(scope) or _cookie_token(headers) or _bearer_token(headers)
            if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
                await _refuse(send, 401, "token", "this server needs its access token: open the address "
                              "`avemotion serve` printed (it ends with ?token=...)")
                return
            set_cookie = _query_token(scope) is not None
        docs = scope.get("path") in ("/docs", "/docs/oauth2-redirect")
        report = bool(REPORT_PATH.match(scope.get("path", "")))
        await self.app(scope, receive, _with_headers(send, set_cookie and self.token, docs, report))


def _query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


def _cookie_token(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    cookie = SimpleCookie()
    try:
        cookie.load(raw.decode("latin-1"))
    except Exception:  # a malformed cookie header is no token
        return None
    return cookie[COOKIE].value if COOKIE in cookie else None


def _bearer_token(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"authorization", b"").decode("latin-1")
    return raw[7:].strip() if raw.lower().startswith("bearer ") else None


def _with_headers(send: Send, cookie_token: str | None | bool, docs: bool, report: bool = False) -> Send:
    """``send`` adding the security headers (and the token cookie) to the response's start; for the docs page
    the body is held back (it is small) so that its inline script's hash can go into the policy; the session
    report (``report``) gets :data:`REPORT_CSP` and may be framed by the page."""
    held: list[Message] = []

    def start_headers(message: Message, script: str = "") -> Message:
        if report:
            extra = [(b"content-security-policy", REPORT_CSP.encode()), (b"x-frame-options", b"SAMEORIGIN"),
                     *(h for h in HEADERS if h[0] != b"x-frame-options")]
        else:
            extra = [(b"content-security-policy", CSP.format(script=script).encode()), *HEADERS]
        if cookie_token:
            cookie = f"{COOKIE}={cookie_token}; Path=/; HttpOnly; SameSite=Strict"
            extra.append((b"set-cookie", cookie.encode()))
        names = {k for k, _ in extra}
        message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names] + extra
        return message

    async def wrapped(message: Message) -> None:
        if not docs:
            await send(start_headers(message) if message["type"] == "http.response.start" else message)
            return
        held.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
            hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                             for s in _INLINE_SCRIPT.findall(body))
            start = next(m for m in held if m["type"] == "http.response.start")
            await send(start_headers(start, hashes))
            await send({"type": "http.response.body", "body": body})

    return wrapped


async def _refuse(send: Send, status: int, reason: str, detail: str) -> None:
    body = json.dumps({"detail": detail, "reason": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"content-security-policy", CSP.format(script="").encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
