"""The HTTP targets' client (targets/_h1.py) against raw servers on 127.0.0.1.

Each server here is a real asyncio TCP server that writes exactly the bytes a test needs
(chunked, gzip, a body ended by closing, a connection closed while idle, broken HTTP), which the
test server's aiohttp application would never send.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from redline.errors import PermanentCallError, TransientCallError
from redline.targets import _http
from redline.targets._h1 import BodyTooLarge, Pool, endpoint

Reply = Callable[[bytes, int], bytes | None]
"""Given a request (head and body) and the connection's request number, the bytes to send
back (``None``: close the connection without answering)."""


def ok(body: bytes, *headers: str) -> bytes:
    """A 200 with ``body`` and a Content-Length."""
    extra = "".join(f"{h}\r\n" for h in headers)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (extra.encode(), len(body), body)


CHAT = json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode()


async def serve(
    reply: Reply, close_after: int | None = None, tls: ssl.SSLContext | None = None
) -> tuple[asyncio.Server, dict]:
    """A raw HTTP server on 127.0.0.1: ``reply`` answers; closes after ``close_after`` requests."""
    seen: dict = {"connections": 0, "requests": []}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        number = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                request = head + await reader.readexactly(length)
                seen["requests"].append(request)
                number += 1
                answer = reply(request, number)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if close_after is not None and number >= close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    return server, seen


def run(test: Callable[[str, dict], Awaitable[None]], reply: Reply, **kwargs) -> dict:
    """Serve ``reply`` and run ``test(url, seen)`` against it; returns what the server saw."""

    async def go() -> dict:
        server, seen = await serve(reply, **kwargs)
        port = server.sockets[0].getsockname()[1]
        scheme = "https" if kwargs.get("tls") is not None else "http"
        try:
            await test(f"{scheme}://127.0.0.1:{port}/v1/chat/completions", seen)
        finally:
            await _http.close_shared_session()
            server.close()
        return seen

    return asyncio.run(go())


def test_requests_share_one_kept_alive_connection():
    async def test(url: str, seen: dict) -> None:
        for _ in range(5):
            status, data = await _http.post_json(url, {"n": 1}, {"X-Test": "yes"})
            assert status == 200 and data["choices"][0]["message"]["content"] == "hi"

    seen = run(test, lambda request, n: ok(CHAT))
    assert seen["connections"] == 1 and len(seen["requests"]) == 5
    head, _, body = seen["requests"][0].partition(b"\r\n\r\n")
    assert b"POST /v1/chat/completions HTTP/1.1" in head and b"X-Test: yes" in head
    assert json.loads(body) == {"n": 1}


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error():
    async def test(url: str, seen: dict) -> None:
        for _ in range(3):
            assert (await _http.post_json(url, {}, {}))[0] == 200
            await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle

    seen = run(test, lambda request, n: ok(CHAT), close_after=1)
    assert seen["connections"] == 3 and len(seen["requests"]) == 3


def test_a_reused_connection_closed_before_any_answer_is_retried_once_on_a_new_one():
    async def test(url: str, seen: dict) -> None:
        for _ in range(2):  # the second request goes out on the kept connection, which dies
            assert (await _http.post_json(url, {}, {}))[0] == 200

    seen = run(test, lambda request, n: ok(CHAT) if n == 1 else None)
    assert seen["connections"] == 2 and len(seen["requests"]) == 3


def test_a_server_that_closes_without_answering_is_a_transient_error():
    async def test(url: str, seen: dict) -> None:
        with pytest.raises(TransientCallError, match=r"connection to .* failed: the server closed"):
            await _http.post_json(url, {}, {})

    run(test, lambda request, n: None)


def test_chunked_gzip_and_close_delimited_bodies_are_read_whole():
    packed = gzip.compress(CHAT)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (CHAT[:7], CHAT[7:]))
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n",
        ok(packed, "Content-Encoding: gzip"),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + CHAT,
    ]

    async def test(url: str, seen: dict) -> None:
        for _ in answers:
            assert (await _http.post_json(url, {}, {}))[1] == json.loads(CHAT)

    run(test, lambda request, n: answers[n - 1], close_after=len(answers))


def test_a_body_larger_than_the_limit_is_not_read_even_compressed():
    bomb = gzip.compress(b"x" * 200_000)  # a few hundred bytes that inflate to 200 kB

    async def test(url: str, seen: dict) -> None:
        pool = Pool(max_body=100_000)
        try:
            for _ in range(2):
                with pytest.raises(BodyTooLarge):
                    await pool.post(endpoint(url), b"", b"{}")
        finally:
            pool.close()

    answers = [ok(bomb, "Content-Encoding: gzip"), ok(b"y" * 100_001)]
    seen = run(test, lambda request, n: answers[n - 1])
    assert seen["connections"] == 2  # a connection that broke off a body is never reused


def test_redirects_line_breaks_and_doubled_credentials_are_permanent_errors():
    async def test(url: str, seen: dict) -> None:
        with pytest.raises(PermanentCallError, match="redirected to https://elsewhere/v1"):
            await _http.post_json(url, {}, {})
        with pytest.raises(PermanentCallError, match="'X-Bad' holds a line break"):
            await _http.post_json(url, {}, {"X-Bad": "a\r\nInjected: yes"})
        with_user = url.replace("http://", "http://alice:secret@")
        with pytest.raises(PermanentCallError, match="credentials in both the URL and an"):
            await _http.post_json(with_user, {}, {"Authorization": "Bearer k"})

    moved = b"HTTP/1.1 308 Moved\r\nLocation: https://elsewhere/v1\r\nContent-Length: 0\r\n\r\n"
    seen = run(test, lambda request, n: moved)
    assert len(seen["requests"]) == 1  # nothing with a bad header was sent


def test_a_response_that_is_not_http_is_a_transient_error():
    async def test(url: str, seen: dict) -> None:
        with pytest.raises(TransientCallError, match="malformed HTTP response"):
            await _http.post_json(url, {}, {})

    run(test, lambda request, n: b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def test_a_cancelled_request_closes_its_connection():
    async def test(url: str, seen: dict) -> None:
        call = asyncio.ensure_future(_http.post_json(url, {}, {}))
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert (await _http.post_json(url, {}, {}))[0] == 200  # on a new connection

    requests = {"n": 0}

    def reply(request: bytes, n: int) -> bytes | None:
        requests["n"] += 1
        return b"" if requests["n"] == 1 else ok(CHAT)  # the first one is never answered

    seen = run(test, reply)
    assert seen["connections"] == 2


def test_json_that_orjson_refuses_is_still_sent_and_read():
    surrogate = {"content": "lone \ud800 surrogate", "big": 2**70}
    assert json.loads(_http.encode_json(surrogate)) == surrogate
    assert _http.decode_json(b'{"content": "lone \\ud800", "x": NaN}')["content"] == "lone \ud800"
    assert json.loads(_http.encode_json({"content": "caf\u00e9"})) == {"content": "caf\u00e9"}
    with pytest.raises(ValueError):
        _http.decode_json(b'{"choices": [')


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command) and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_https_verifies_the_server_certificate_and_refuses_an_untrusted_one(certificate):
    async def test(url: str, seen: dict) -> None:
        with pytest.raises(TransientCallError, match="CERTIFICATE_VERIFY_FAILED"):
            await _http.post_json(url, {}, {})

    seen = run(test, lambda request, n: ok(CHAT), tls=_server_tls(certificate))
    assert seen["requests"] == []  # nothing was sent to a server that could not be verified


def test_https_to_a_server_whose_certificate_is_trusted(certificate, monkeypatch):
    # a private CA (a company's proxy, a self-hosted model) is trusted the usual OpenSSL way
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    async def test(url: str, seen: dict) -> None:
        for _ in range(3):
            status, data = await _http.post_json(url, {"n": 1}, {"Authorization": "Bearer k"})
            assert status == 200 and data["choices"][0]["message"]["content"] == "hi"

    seen = run(test, lambda request, n: ok(CHAT), tls=_server_tls(certificate))
    assert seen["connections"] == 1 and len(seen["requests"]) == 3
    assert b"Host: 127.0.0.1" in seen["requests"][0]
