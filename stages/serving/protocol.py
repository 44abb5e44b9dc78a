"""uvicorn's HTTP/1.1 protocol (h11), answering in JSON where uvicorn itself would answer in plain text.

uvicorn replies without the app to bytes that are not an HTTP/1.1 request (400 "Invalid HTTP request received.":
a garbage request line, Content-Length -1, two different Content-Lengths, a header line with a space or a NUL, a
bad chunk), to a request past --max-connections (503), and when the app fails before it answers (500). Here each
is {"detail": "..."}, with h11's status (431 for unfinished headers past 16 KiB, 501 for a Transfer-Encoding
other than chunked) and h11's reason. Also: a client's bad bytes after its answer close the connection instead
of raising in uvicorn's handler; an app failure is logged once (by the app's 500 handler), not again by uvicorn;
a request to switch protocols is answered as HTTP/1.1, without advice to install a WebSocket library.

`config()` passes the class as uvicorn.Config's `http`, the documented way to choose the protocol: h11 whether
httptools is installed or not, so the parser and its answers are the same everywhere. Made for the app of
app.create_app, whose 500 handler logs every failure.
"""
import functools
import json
import re

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # as uvicorn's h11_impl imports it
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

BUSY = "the server has --max-connections connections or requests open; retry in a moment"
FAILED = "internal error; the server's log has the details"


def config(app, **options) -> uvicorn.Config:
    """uvicorn's Config for this server: the protocol below, and no WebSocket (no route uses one)."""
    return uvicorn.Config(app, http=JsonErrors, ws="none", **options)


class _Connection(h11.Connection):
    """h11's connection, remembering why it refused the client's bytes (uvicorn does not pass that on)."""
    refused: h11.RemoteProtocolError | None = None

    def next_event(self):
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.refused = error
            raise


class JsonErrors(H11Protocol):
    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        size = config.h11_max_incomplete_event_size  # as uvicorn makes its own, which has received nothing yet
        self.conn = _Connection(h11.SERVER, DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if size is None else size)
        # uvicorn's own check would answer 503 in plain text: the same check is made in _guard instead
        limit, self.limit_concurrency = self.limit_concurrency, None
        self.app = functools.partial(_guard, self.app, limit, self.connections, self.tasks, self.logger)

    def _should_upgrade(self) -> bool:
        # No protocol switch is served (no WebSocket, no h2c): the request is answered as HTTP/1.1, without
        # uvicorn's warnings telling the operator to install a WebSocket library.
        return False

    def send_400_response(self, msg: str) -> None:
        error = self.conn.refused
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            # An answer to this request is already under way or sent (its body then turned bad): no second one.
            self.transport.close()
            return
        status = error.error_status_hint if error else 400
        # h11's reason without the client's bytes it quotes ("illegal header line: bytearray(b'...')")
        why = re.split(r":? (?:bytearray\(|b['\"])", str(error), maxsplit=1)[0] if error else "unreadable"
        body = json.dumps({"detail": f"not a valid HTTP/1.1 request ({why}); the connection is closed"}).encode()
        headers = [*self.server_state.default_headers, (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        for event in (h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


async def _guard(app, limit, connections, tasks, logger, scope, receive, send):
    """uvicorn's concurrency limit with a JSON 503, a JSON 500 if the app fails before answering, and each failure
    logged once."""
    # uvicorn counts before it creates this request's task; here the task exists and counts itself
    if limit is not None and (len(connections) >= limit or len(tasks) > limit):
        logger.warning("Exceeded concurrency limit.")
        return await _answer(send, 503, BUSY, [(b"retry-after", b"1")])
    started = False

    async def tracked(message):
        nonlocal started
        started = True
        await send(message)

    try:
        await app(scope, receive, tracked)
    except BaseException as error:
        if not started:  # uvicorn would answer "Internal Server Error" in plain text
            await _answer(send, 500, FAILED)
        elif isinstance(error, Exception):
            # Answered, and logged by the app's 500 handler; Starlette raises it again "for servers to log",
            # which would put the same traceback in the log twice.
            return
        raise


async def _answer(send, status: int, detail: str, headers=()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})
