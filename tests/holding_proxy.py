"""A small HTTP proxy that holds requests, not responses: the "slow link" in front of
Notify that makes a request arrive after the client has given up on it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


class HoldingProxy:
    """Forward to ``127.0.0.1:upstream_port``; hold the next ``hold_posts`` POST requests
    for ``hold_seconds`` before they are passed on (whether or not the client is still
    waiting), as a congested link or a slow proxy would."""

    def __init__(self, upstream_port: int, *, hold_posts: int = 1, hold_seconds: float = 1.5) -> None:
        self.upstream_port = upstream_port
        self.hold_posts = hold_posts
        self.hold_seconds = hold_seconds
        self.held = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._stopping = threading.Event()

    def __enter__(self) -> HoldingProxy:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stopping.set()
        self._server.close()
        for thread in self._threads:
            thread.join(timeout=self.hold_seconds + 5)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if not request:
                return
            with self._lock:
                hold = request.startswith(b"POST") and self.held < self.hold_posts
                self.held += hold
            if hold:
                time.sleep(self.hold_seconds)
            with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
                upstream.sendall(request)
                while chunk := upstream.recv(65536):
                    # The client may have given up long ago; Notify still got the request.
                    with contextlib.suppress(OSError):
                        conn.sendall(chunk)
