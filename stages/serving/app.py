"""The FastAPI app: POST /summarize, GET /health, the page at /, and the OpenAPI description."""
import asyncio
import dataclasses
import functools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from . import limits as limits_, page
from .batcher import Batcher, QueueFull
from .limits import Limits, Problem, SummarizeRequest

log = logging.getLogger("stages.serve")


class Summary(BaseModel):
    summary: str
    cut_tokens: int  # tokens cut from the end of the dialogue to fit data.max_source_length (0: none)
    queue_s: float  # waiting for the engine
    engine_s: float  # the engine call this dialogue shared with the rest of its batch
    batch: int  # dialogues in that engine call


class SummarizeResponse(BaseModel):
    model: str
    summaries: list[Summary]  # in the order of the request's dialogues
    total_s: float  # from the whole body received to the answer


ERRORS = {400: "the body is not UTF-8 JSON", 408: "the body did not arrive in time",
          413: "the body is too large", 415: "not sent as application/json",
          422: "not a valid request: unknown model, too many or too long dialogues, a field of the wrong type",
          503: "the queue is full: retry after the Retry-After header's seconds"}


@dataclasses.dataclass(frozen=True)
class Batching:
    max_batch: int = 32  # dialogues per engine call
    max_wait_s: float = 0.01  # how long the oldest waiting dialogue waits for more to join
    queue_size: int = 256  # dialogues waiting, per model


def create_app(backends: dict, prompter, limits: Limits = Limits(), batching: Batching = Batching(),
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """backends: {name: object with .summarize(inputs, progress=False) and .describe()}, the first the default."""
    names = list(backends)
    batchers = {name: Batcher(functools.partial(backend.summarize, progress=False), name, batching.max_batch,
                              batching.max_wait_s, batching.queue_size) for name, backend in backends.items()}
    engines = {name: public(backend.describe()) for name, backend in backends.items()}
    # One thread encodes: the tokenizer is used by one thread at a time anyway (prompting.Prompter), and a
    # pool of threads would each keep a malloc arena of their own.
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")

    @asynccontextmanager
    async def lifespan(app):
        for batcher in batchers.values():
            batcher.start()
        yield
        # Requests still in flight have been answered by now (the server waits for them before this); whatever
        # is queued regardless is summarized before the process ends.
        for batcher in batchers.values():
            await anyio.to_thread.run_sync(batcher.close)
        encoder.shutdown()

    app = FastAPI(title="Dialogue summarizer", version="1", lifespan=lifespan, redoc_url=None,
                  description="Summaries of dialogues by the pipeline's models, with the pipeline's prompt and "
                              "decoding params. Concurrent requests are batched per model.")
    app.state.batchers = batchers
    app.add_middleware(limits_.BodyLimit, limits=limits)
    if allowed_hosts:  # bound to loopback: refuse other Host names (DNS rebinding from a web page)
        app.add_middleware(limits_.KnownHosts, hosts=allowed_hosts)

    @app.exception_handler(Problem)
    async def problem(request, error: Problem):
        return JSONResponse({"detail": error.message}, error.status, headers=error.headers)

    @app.exception_handler(QueueFull)
    async def full(request, error: QueueFull):
        return JSONResponse({"detail": str(error)}, 503, headers={"retry-after": str(error.retry_after)})

    @app.exception_handler(Exception)
    async def internal(request, error: Exception):
        log.exception("error answering %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server's log has the details"}, 500)

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page.HTML, headers=page.HEADERS)

    @app.get("/favicon.ico", include_in_schema=False)
    async def icon():
        return Response(status_code=204)  # none: a browser asks for one anyway

    @app.get("/health", summary="the models served, their engines and queues, and the limits")
    async def health():
        return {"status": "ok", "default_model": names[0], "limits": dataclasses.asdict(limits),
                "models": {name: {"engine": engines[name], "queue": batcher.depth(), "capacity": batcher.capacity,
                                  "max_batch": batcher.max_batch, "max_wait_ms": batcher.max_wait_s * 1000,
                                  "batches": batcher.batches, "dialogues": batcher.dialogues}
                           for name, batcher in batchers.items()}}

    @app.post("/summarize", response_model=SummarizeResponse, summary="summaries of one or more dialogues",
              responses={status: {"description": text} for status, text in ERRORS.items()},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": SummarizeRequest.model_json_schema()}}}})
    async def summarize(request: Request):
        body = await request.body()
        started = time.perf_counter()
        asked = limits_.parse(body, request.headers.get("content-type", ""), limits, names)
        name = asked.model or names[0]
        batcher, count = batchers[name], len(asked.dialogues)
        batcher.reserve(count)  # a full queue refuses before any encoding work
        try:
            ids, cut = await asyncio.get_running_loop().run_in_executor(encoder, prompter.encode, asked.dialogues, name)
        except BaseException as error:
            batcher.release(count)
            if isinstance(error, ValueError):
                raise Problem(422, str(error)) from None
            raise
        done = await _unless_client_leaves(request, batcher.submit(ids, reserved=True))
        if done is None:
            return Response(status_code=499)  # nobody is listening; nginx's code for it, for the access log
        return {"model": name, "total_s": round(time.perf_counter() - started, 4),
                "summaries": [{"summary": d.summary, "cut_tokens": over, "queue_s": round(d.queue_s, 4),
                               "engine_s": round(d.engine_s, 4), "batch": d.batch} for d, over in zip(done, cut)]}

    return app


async def _unless_client_leaves(request: Request, futures) -> list | None:
    """Each future's result, or None if the client disconnected first. Whatever is not done by then is cancelled:
    dialogues still queued are dropped before the engine, one already in the engine finishes unread. No gather():
    a cancelled gather holds a CancelledError that nothing reads, which asyncio logs as an error block."""
    waiting = [asyncio.wrap_future(future) for future in futures]
    leaving = asyncio.ensure_future(_disconnected(request))
    try:
        pending = set(waiting)
        while pending:
            done, _ = await asyncio.wait(pending | {leaving}, return_when=asyncio.FIRST_COMPLETED)
            pending -= done
            failed = [future.exception() for future in done - {leaving} if future.exception() is not None]
            if failed:
                raise failed[0]  # the engine's error, for the 500 handler to log
            if leaving in done:
                leaving.result()  # an error reading the connection is raised, not left unread
                return None
        return [future.result() for future in waiting]
    finally:
        leaving.cancel()
        for future in waiting:
            future.cancel()  # a no-op for the done; the rest leave the queue (the batcher skips cancelled ones)


def public(described: dict) -> dict:
    """An engine's description without the paths of this machine, for /health: a model given as NAME=DIR is
    known by its NAME there. A value naming a file or folder (absolute, ~, or present relative to the working
    directory) is left out, whatever its key."""
    def path(value) -> bool:
        return isinstance(value, str) and (os.path.isabs(value) or value.startswith("~") or os.path.exists(value))

    return {key: value for key, value in described.items() if not path(value)}


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
