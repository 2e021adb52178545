"""The app's protections: access token, CSRF check, strict headers, read-only mode.

- **Token.** When the app has a token (always when it listens beyond the loopback interface),
  a request must carry it: ``Authorization: Bearer TOKEN``, or the ``redline_token`` cookie
  that opening any page with ``?token=TOKEN`` sets (HttpOnly, SameSite=Strict).
- **CSRF.** A state-changing request (anything but GET, HEAD, OPTIONS) must send the app's
  CSRF token in the ``X-CSRF-Token`` header; pages carry it in a ``<meta>`` tag, which another
  origin cannot read. A request whose ``Origin`` is not the app's own is refused as well.
- **Headers.** A Content-Security-Policy without inline scripts, inline styles or any other
  origin: model output is escaped by the templates, and even markup that slipped through could
  neither run nor load anything. No framing, no sniffing, no referrer.
- **Read-only.** With ``--read-only`` every state-changing request is refused (403).
- **Size.** A request body over :data:`MAX_BODY_BYTES` is refused (413): by its Content-Length
  before it is read, else by counting as it arrives (:class:`BodyLimitMiddleware`).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redline.web.settings import WebSettings

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY_BYTES = 2 * 1024 * 1024
"""The largest request body accepted (a playground conversation, a label): 2 MiB."""
TOKEN_COOKIE = "redline_token"

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class BodyLimitMiddleware:
    """Refuse a request body over ``limit`` bytes (413), declared or not.

    A Content-Length over the limit is refused before anything is read; otherwise the bytes
    are counted as they arrive, so a chunked upload cannot go past the limit either: the 413
    is raised from ``receive``, inside the handler that reads the body, and turned into a
    response by Starlette's exception handling. Inside :class:`SecurityMiddleware`, so the
    refusal carries the security headers and comes after the token and CSRF checks.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a ``receive`` that counts the body's bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body too large (at most {self.limit} bytes)"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await PlainTextResponse(too_large, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)


class SecurityMiddleware(BaseHTTPMiddleware):
    """Checks the token, the CSRF header and read-only mode; adds the security headers."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Refuse what the settings forbid; pass the rest on, with the security headers."""
        response = self._refusal(request)
        if response is None:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _refusal(self, request: Request) -> Response | None:
        settings = self.settings
        if settings.token is not None:
            given = request.query_params.get("token")
            if given is not None and request.method in SAFE_METHODS:
                if not _same(given, settings.token):
                    return PlainTextResponse("wrong token", status_code=401)
                return self._remember_token(request)
            auth = request.headers.get("authorization", "")
            bearer = auth[7:] if auth.lower().startswith("bearer ") else None
            if not (
                _same(bearer, settings.token)
                or _same(request.cookies.get(TOKEN_COOKIE), settings.token)
            ):
                return PlainTextResponse(
                    "this redline app needs its access token: open the link with ?token= that "
                    "`redline serve` printed",
                    status_code=401,
                )
        if request.method in SAFE_METHODS:
            return None
        if settings.read_only:
            return PlainTextResponse("this redline app is read-only", status_code=403)
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return PlainTextResponse("cross-origin request refused", status_code=403)
        if not _same(request.headers.get("x-csrf-token"), settings.csrf_token):
            return PlainTextResponse("missing or wrong X-CSRF-Token header", status_code=403)
        return None

    def _remember_token(self, request: Request) -> Response:
        """Set the token cookie and drop the token from the address bar."""
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        # one leading slash: ``//host/`` would send the browser to another site
        url = "/" + request.url.path.lstrip("/") + ("?" + urlencode(rest) if rest else "")
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            TOKEN_COOKIE, self.settings.token or "", httponly=True, samesite="strict"
        )
        return response
