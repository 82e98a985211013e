"""A threaded HTTP/1.1 WSGI server for the sandbox that keeps each client's connection open between calls.

werkzeug's development server answers every request with `Connection: close` whatever the protocol
version (its run_wsgi cannot drain a request body it did not read before the next request line), so
every call to the sandbox opened a TCP connection and started a server thread, and then waited up to
10 ms for stray body bytes: 0.9 ms of CPU per call on top of the app's own. Real trackers keep
connections alive, so the connectors' sessions reuse theirs. This server reads each request body in
full before calling the app and answers with a Content-Length, so the next request on the
connection starts where it should. It stays in-process: tests read the sandbox's state directly.
"""

from __future__ import annotations

import io
import logging
import socket
import socketserver
import sys
import threading
import time
from email.utils import formatdate
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterable
from urllib.parse import unquote_to_bytes

log = logging.getLogger(__name__)
IDLE_SECONDS = 120.0  # a connection silent this long is closed (its client is gone)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_NO_BODY = {204, 304}

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    server: "KeepAliveServer"

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away mid-request: nothing to answer

    def _serve(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # No client of the sandbox streams a request body; refuse rather than misread the stream.
            self.close_connection = True
            self.send_error(411, "send a Content-Length")
            return
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self.send_error(400, "Content-Length is not a number")
            return
        body = self.rfile.read(size) if size > 0 else b""
        try:
            status, headers, payload = self._call_app(body)
        except Exception:  # the app's own error handling failed: answer 500 and keep serving others
            log.exception("sandbox request %s %s failed", self.command, self.path)
            status, headers, payload = "500 Internal Server Error", [("Content-Type", "text/plain")], b"error\n"
        self._respond(status, headers, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _call_app(self, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        answer: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            answer.update(status=status, headers=headers)
            return chunks.append

        result = self.server.app(self._environ(body), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answer["status"], answer["headers"], b"".join(chunks)

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),  # PEP 3333: bytes as latin-1
            "QUERY_STRING": query, "SERVER_NAME": host, "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version, "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1], "CONTENT_LENGTH": str(len(body)) if body else "",
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        for name, value in self.headers.items():
            if "_" in name:  # as werkzeug: "X_Foo" would pass for "X-Foo" in the environ
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _respond(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code = int(status.split(" ", 1)[0])
        lines = [f"HTTP/1.1 {status}", f"Date: {_http_date(int(time.time()))}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in _HOP_BY_HOP]
        if self.command == "HEAD" or code in _NO_BODY:
            # HEAD answers tell the length the GET would have; the app's header says it.
            declared = next((v for n, v in headers if n.lower() == "content-length"), None)
            lines += [f"Content-Length: {declared}"] if declared is not None and code not in _NO_BODY else []
            payload = b""
        else:
            lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        self.log_request(code, len(payload))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        # Request lines would drown test and demo output; the sandbox's call counters hold the same facts.
        log.debug("%s %s", self.address_string(), format % args)


@lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    """The Date header, formatted once per second rather than once per answer."""
    return formatdate(second, usegmt=True)


class KeepAliveServer(socketserver.ThreadingTCPServer):
    """One thread per open connection; `close_connections()` ends the idle ones when the sandbox stops."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        super().__init__((host, port), _Handler)
        self.app = app
        self.port: int = self.server_address[1]
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wakes every handler blocked waiting for its client's next request, so its thread ends."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue  # already closed by its client
