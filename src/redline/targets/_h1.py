"""The HTTP targets' client: HTTP/1.1 keep-alive connections per event loop, parsed by httptools.

A scan sends thousands of small JSON requests to one endpoint; what each costs on the client's
CPU decides how fast a fast server can be scanned. Measured with ``benchmarks/throughput.py``'s
clients against the test server (2 cores, concurrency 64): a bare aiohttp loop spends about
0.085 ms of CPU per request, this client about 0.036 ms, as a bare standard-library client does.
It does only what the HTTP targets need: POST a body, read the whole response (``gzip`` or
``deflate`` decoded, at most ``max_body`` bytes), keep the connection for the next request.
The parser is httptools (llhttp, the parser of Node.js); the transports are asyncio's.

Connections are pooled per ``(scheme, host, port)``; a request takes an idle one or opens a
new one (there is no limit here: the engine's gate limits the calls in flight). A connection
the server closed while idle is noticed when the request gets no byte back, and the request is
sent once more on a new connection. A cancelled or failed request closes its connection.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, cast
from urllib.parse import unquote, urlsplit

import httptools

from redline import __version__

USER_AGENT = f"redline/{__version__}"


class Response(NamedTuple):
    """A complete response: status, headers (names lower-cased) and the decoded body."""

    status: int
    headers: dict[str, str]
    body: bytes


class ConnectionLost(ConnectionError):
    """The connection closed, or the response could not be read, before it was complete."""


class BodyTooLarge(Exception):
    """The response body is larger than the client reads (``max_body``)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where requests to one URL go, with the start of their head already encoded."""

    key: tuple[str, str, int]
    host: str
    port: int
    tls: bool
    head: bytes
    """``POST path HTTP/1.1`` and the headers every request to it sends."""
    authorized: bool
    """The URL carries credentials (``head`` has their ``Authorization`` header)."""


@lru_cache(maxsize=256)
def endpoint(url: str) -> Endpoint:
    """The :class:`Endpoint` of ``url`` (``http`` or ``https``); ``ValueError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == (443 if tls else 80) else f"{shown}:{port}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\n"
        "Content-Type: application/json\r\n"
    )
    basic = parts.username is not None or parts.password is not None
    if basic:  # credentials in the URL: sent as Basic authorization, as browsers do
        plain = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        head += f"Authorization: Basic {base64.b64encode(plain.encode()).decode()}\r\n"
    return Endpoint((parts.scheme, host, port), host, port, tls, head.encode(), basic)


def header_lines(headers: dict[str, str], where: Endpoint) -> bytes:
    """The caller's headers as request lines for ``where``.

    ``ValueError`` for a line break in one, or an ``Authorization`` header to a URL that
    carries credentials.
    """
    lines = []
    for name, value in headers.items():
        if where.authorized and name.lower() == "authorization":
            raise ValueError("credentials in both the URL and an Authorization header")
        line = f"{name}: {value}\r\n"
        if "\n" in line[:-2] or "\r" in line[:-2]:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(line)
    return "".join(lines).encode()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, its response parsed as it arrives."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = False
        self.received = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.decoder: zlib._Decompress | None = None
        self.until_close = False

    async def request(self, data: bytes) -> Response:
        """Send one request and wait for its whole response."""
        assert self.transport is not None
        if self.closed:
            raise ConnectionLost("the connection is closed")
        self._reset()
        self.received = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def close(self) -> None:
        """Close the connection (nothing is waiting on it any more)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            cause = exc.__context__  # what a callback of ours raised, if one did
            if isinstance(cause, (BodyTooLarge, ConnectionLost)):
                self._fail(cause)
            else:
                self._fail(ConnectionLost(f"malformed HTTP response ({exc})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.until_close and exc is None and self.waiter is not None and not self.waiter.done():
            # a body delimited by a clean end of the connection; a reset cuts it short
            self.on_message_complete()
            return
        reason = f" ({exc})" if exc else ""
        self._fail(ConnectionLost(f"the server closed the connection{reason}"))

    # httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        headers = self.headers
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise BodyTooLarge(self.status)
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self.decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, detected
        elif encoding not in ("identity", ""):
            raise ConnectionLost(f"the response is encoded with {encoding!r}, not asked for")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.until_close = length is None and not chunked and not self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.decoder is not None:
            body = self.decoder.decompress(body, self.max_body - self.size + 1)
            if self.decoder.unconsumed_tail:
                raise BodyTooLarge(self.status)
        self.size += len(body)
        if self.size > self.max_body:
            raise BodyTooLarge(self.status)
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.decoder is not None:
            self.chunks.append(self.decoder.flush())
        self.keep_alive = not self.closed and self.parser.should_keep_alive()
        waiter.set_result(Response(self.status, self.headers, b"".join(self.chunks)))

    def _fail(self, error: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)


class Pool:
    """Idle keep-alive connections of one event loop, by ``(scheme, host, port)``."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self.closed = False
        self._tls: ssl.SSLContext | None = None

    async def post(self, where: Endpoint, headers: bytes, body: bytes) -> Response:
        """POST ``body`` (with the extra header lines ``headers``) and read the response.

        Raises ``OSError`` (``ConnectionLost`` included) when the exchange fails and
        :class:`BodyTooLarge` past ``max_body`` bytes.
        """
        data = b"%s%sContent-Length: %d\r\n\r\n%s" % (where.head, headers, len(body), body)
        idle = self.idle.setdefault(where.key, [])
        while True:
            while idle and idle[-1].closed:  # closed by the server while idle
                idle.pop()
            reused = bool(idle)
            connection = idle.pop() if idle else await self._connect(where)
            try:
                response = await connection.request(data)
            except ConnectionLost:
                connection.close()
                if reused and not connection.received:
                    continue  # closed by the server while idle: once more, on a new connection
                raise
            except BaseException:
                connection.close()
                raise
            if connection.keep_alive and not connection.closed and not self.closed:
                idle.append(connection)
            else:
                connection.close()
            return response

    async def _connect(self, where: Endpoint) -> _Connection:
        if self.closed:
            raise ConnectionLost("the client is closed")
        tls = None
        if where.tls:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        _, connection = await asyncio.get_running_loop().create_connection(
            lambda: _Connection(self.max_body),
            where.host,
            where.port,
            ssl=tls,
            server_hostname=where.host if tls else None,
        )
        return connection

    def close(self) -> None:
        """Close every idle connection; those in use close when their request ends."""
        self.closed = True
        for connections in self.idle.values():
            for connection in connections:
                connection.close()
        self.idle.clear()
