"""What a request may be, and the 4xx that says what to fix when it is not.

The body is read here, under a size cap and a deadline, before any route sees it: a 10 MB body is refused from
its Content-Length (or once the bytes received pass the cap), and a client that stops sending mid-body gets
408 instead of holding a connection, and the server's shutdown, forever.
"""
import json
from dataclasses import dataclass

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..io import jsonl


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20
    max_dialogues: int = 32  # per request
    max_chars: int = 20_000  # per dialogue; DialogSum's longest is about 5,000
    body_timeout_s: float = 30.0  # to receive the whole body


class Problem(Exception):
    """A request the client must change: its status and one sentence saying what to do."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class SummarizeRequest(BaseModel):
    """POST /summarize: the dialogues to summarize, with the model to use."""
    model_config = ConfigDict(extra="forbid", strict=True)
    dialogues: list[str] = Field(min_length=1, description="one or more dialogues, each one JSON string "
                                 "(#Person1#: ... one turn per line, as in DialogSum)")
    model: str | None = Field(None, description="a name from GET /health; default: the first served")


class BodyLimit:
    """ASGI middleware: a POST's body, whole and within the limits, or a 4xx before the route runs."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        try:
            body = await _read(scope, receive, self.limits)
        except Problem as problem:
            return await _answer(send, problem)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body only http.disconnect comes: when the client leaves

        await self.app(scope, replay, send)


class KnownHosts:
    """ASGI middleware for a server bound to loopback: a request whose Host header names another host (a web
    page that reached this server by DNS rebinding) gets 400, as JSON like every other error."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, {host.lower() for host in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and _host(dict(scope["headers"]).get(b"host", b"")) not in self.hosts:
            return await _answer(send, Problem(400, "the Host header names another host than this server's "
                                               "loopback address; send requests to it by that address"))
        return await self.app(scope, receive, send)


def _host(value: bytes) -> str:
    """The host of a Host header, without its port: "[::1]:8000" -> "::1", "localhost:8000" -> "localhost"."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else ""
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


async def _read(scope, receive, limits: Limits) -> bytes:
    declared = dict(scope["headers"]).get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise Problem(413, f"the body is {int(declared):,} bytes; the limit is {limits.max_body_bytes:,} "
                      "(--max-body-bytes): send fewer or shorter dialogues per request")
    chunks, size = [], 0
    with anyio.move_on_after(limits.body_timeout_s) as deadline:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Problem(400, "the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise Problem(413, f"the body is over {limits.max_body_bytes:,} bytes (--max-body-bytes): send "
                              "fewer or shorter dialogues per request")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    if deadline.cancelled_caught:
        raise Problem(408, f"the body did not arrive within {limits.body_timeout_s:g} s (--body-timeout)",
                      {"connection": "close"})
    return b"".join(chunks)


async def _answer(send, problem: Problem) -> None:
    body = json.dumps({"detail": problem.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # The unread rest of the body would be taken for the next request on this connection: close it.
    headers += [(b"connection", b"close")] + [(k.encode(), v.encode()) for k, v in problem.headers.items()
                                             if k != "connection"]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def parse(body: bytes, content_type: str, limits: Limits, models: list[str]) -> SummarizeRequest:
    """The request a body holds, or the Problem that says why it holds none."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        # Also what keeps other web pages from posting here: a cross-site JSON request needs a CORS preflight.
        raise Problem(415, f"send the body as JSON with Content-Type: application/json (got {content_type or 'none'!r})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(400, f"the body is not UTF-8 (byte {error.start}: {error.reason}); send JSON as UTF-8") from None
    try:
        value = jsonl.loads(text)  # the one reader of JSON a user gives: deep, huge numbers, a key twice
    except jsonl.BadJSON as error:
        raise Problem(400, f"the body is {error}") from None
    if not isinstance(value, dict):
        raise Problem(422, f'the body is a JSON {_kind(value)}; send an object: {{"dialogues": ["..."], '
                      '"model": "..."}')
    try:
        request = SummarizeRequest.model_validate(value)
    except ValidationError as error:
        raise Problem(422, "; ".join(_where(e) + e["msg"] for e in error.errors(include_url=False)[:5])) from None
    return check(request, limits, models)


def check(request: SummarizeRequest, limits: Limits, models: list[str]) -> SummarizeRequest:
    if request.model is not None and request.model not in models:
        raise Problem(422, f"model {request.model[:80]!r} is not served here; choose one of {', '.join(models)}")
    if len(request.dialogues) > limits.max_dialogues:
        raise Problem(422, f"{len(request.dialogues)} dialogues in one request; the limit is {limits.max_dialogues} "
                      "(--max-dialogues): split them over several requests")
    for i, text in enumerate(request.dialogues):
        if len(text) > limits.max_chars:
            raise Problem(422, f"dialogues[{i}] is {len(text):,} characters; the limit is {limits.max_chars:,} "
                          "(--max-chars), and the model reads only data.max_source_length tokens of it anyway")
        # what the text may hold (no control characters, a lone surrogate JSON can escape, or nothing visible)
        # is checked with the model's tokenizer as the CLI and prepare check it: stages/data/dialogue.py
    return request


def _kind(value) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _where(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: " if where else ""
