"""A FastAPI app served by a real uvicorn on 127.0.0.1 in a thread of the test process, and raw HTTP over a
socket: what TestClient cannot do (slow and vanishing clients, chunked bodies, a browser)."""
import socket
import threading
import time

import uvicorn

from stages.serving import protocol

WAIT = 30


class Live:
    """`with Live(app) as live:` serves on http://127.0.0.1:{live.port}; leaving the block stops it."""

    def __init__(self, app, **options):
        # log_config=None: uvicorn's records reach pytest's caplog instead of its own handlers
        self.server = uvicorn.Server(protocol.config(app, host="127.0.0.1", port=0, log_config=None,
                                                     access_log=False, timeout_keep_alive=5, **options))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> "Live":
        self.thread.start()
        until(lambda: self.server.started or not self.thread.is_alive(), "uvicorn to start")
        assert self.server.started, "uvicorn did not start"
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def until(condition, what: str, timeout: float = WAIT) -> None:
    """Wait for a state (never for a duration): fail after `timeout` seconds instead of hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.005)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return sock


def head(path: str, length: int | None, extra: str = "", content_type="application/json") -> bytes:
    """Request line and headers of a POST; `length` None: a chunked body."""
    size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{size}\r\n{extra}"
            "\r\n").encode()


def response(sock: socket.socket) -> tuple[int, bytes]:
    """(status, raw bytes) of a whole response: read until the server closes the connection or the declared
    body is complete."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        data += chunk
        header, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            lengths = [line.split(b":")[1] for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if lengths and len(body) >= int(lengths[0]):
                break
        if not chunk:
            break
    return int(data.split(b" ", 2)[1]), data
