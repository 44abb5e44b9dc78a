"""Clients TestClient cannot play, against a real uvicorn on 127.0.0.1: one that stalls mid-body, one that leaves
mid-request, chunked and oversized bodies, a burst of concurrent requests. A fake engine; exact status codes;
no error may reach the server's log."""
import asyncio
import gc
import json
import logging
import threading

import httpx
import pytest
from test_serve_api import DIALOGUE, Echo, numbered, prompter  # noqa: F401 - prompter is a fixture

from live import WAIT, Live, connect, head, response, until
from stages.serving import app as app_, limits


@pytest.fixture
def no_errors_logged(caplog):
    caplog.set_level(logging.INFO)
    yield
    gc.collect()  # asyncio logs a future's unread exception ("never retrieved") only when it is collected
    # caplog.records alone holds this teardown's records only: the test's own are in its "call" phase
    records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
def live(prompter, no_errors_logged):  # noqa: F811
    engine = Echo()  # a summary is its prompt's token ids
    service = app_.create_app({"m": engine}, prompter,
                              limits.Limits(max_body_bytes=64 * 1024, max_dialogues=4, max_chars=2000,
                                            body_timeout_s=0.5),
                              app_.Batching(max_batch=8, max_wait_s=0.0, queue_size=16))
    with Live(service) as server:
        server.engine, server.batcher, server.prompter = engine, service.state.batchers["m"], prompter
        yield server


def body_of(*dialogues) -> bytes:
    return json.dumps({"dialogues": list(dialogues)}).encode()


def ok(live) -> dict:
    answer = httpx.post(f"{live.url}/summarize", content=body_of(DIALOGUE),
                        headers={"content-type": "application/json"}, timeout=WAIT)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_client_that_stalls_mid_body_gets_408_and_loses_its_connection(live):
    body = body_of(DIALOGUE)
    with connect(live.port) as sock:
        sock.sendall(head("/summarize", len(body)) + body[:10])  # and nothing more
        status, raw = response(sock)
        assert status == 408 and b"did not arrive within 0.5 s (--body-timeout)" in raw
        assert sock.recv(1) == b""  # closed
    ok(live)


def test_a_client_that_sends_its_headers_slowly_holds_no_one_up(live):
    with connect(live.port) as slow:
        slow.sendall(b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the rest never comes
        ok(live)
    # and the server still stops: Live's exit asserts it


def test_a_client_that_leaves_mid_body_or_mid_request_costs_no_engine_work_once_gone(live):
    live.engine.gate.clear()
    body = body_of(DIALOGUE)
    running = connect(live.port)
    running.sendall(head("/summarize", len(body)) + body)
    assert live.engine.entered.wait(WAIT)  # its dialogue is in the engine, which holds
    waiting = connect(live.port)
    waiting.sendall(head("/summarize", len(body_of("someone else"))) + body_of("someone else"))
    until(lambda: live.batcher.depth() == 1, "the second request to queue")
    partial = connect(live.port)
    partial.sendall(head("/summarize", len(body)) + body[:5])
    for sock in (running, waiting, partial):
        sock.close()
    until(lambda: live.batcher.depth() == 0, "the server to drop the request whose client left")
    live.engine.gate.set()
    ok(live)
    assert len(live.engine.calls) == 2  # the one running when its client left, then ok(): nothing for "waiting"


def test_a_chunked_body_past_the_limit_is_refused_without_reading_on(live):
    chunk = b"x" * (64 * 1024)
    with connect(live.port) as sock:
        sock.sendall(head("/summarize", None) + b"%x\r\n%s\r\n" % (len(chunk), chunk) + b"1\r\nx\r\n")
        status, raw = response(sock)  # 64 KiB + 1 byte sent: one past the limit, and the rest never needed
    assert status == 413 and b"over 65,536 bytes" in raw and b"connection: close" in raw.lower()
    ok(live)


def test_a_10_mb_body_is_refused_before_a_byte_of_it_is_sent(live):
    with connect(live.port) as sock:
        sock.sendall(head("/summarize", 10 << 20))
        status, raw = response(sock)
    assert status == 413 and b"the body is 10,485,760 bytes; the limit is 65,536" in raw


def test_a_burst_of_concurrent_requests_each_get_their_own_answer(live):
    async def burst():
        async with httpx.AsyncClient(base_url=live.url, timeout=WAIT,
                                     limits=httpx.Limits(max_connections=64)) as client:
            return await asyncio.gather(*(client.post("/summarize", json={"dialogues": [numbered(n)]})
                                          for n in range(150)))

    answers = asyncio.run(burst())
    assert {a.status_code for a in answers} <= {200, 503}, [a.text for a in answers if a.status_code not in (200, 503)]
    expected, _ = live.prompter.encode([numbered(n) for n in range(150)])
    done = [(a.json(), ids) for a, ids in zip(answers, expected) if a.status_code == 200]
    assert done and all(body["summaries"][0]["summary"] == " ".join(map(str, ids)) for body, ids in done)
    assert live.batcher.depth() == 0


def test_shutdown_waits_for_the_request_in_the_engine(live):
    live.engine.gate.clear()
    answers = []
    asking = threading.Thread(target=lambda: answers.append(ok(live)))
    asking.start()
    assert live.engine.entered.wait(WAIT)
    live.server.should_exit = True  # what SIGTERM does
    until(lambda: not live.server.servers[0].is_serving(), "the server to stop listening")
    live.engine.gate.set()
    asking.join(WAIT)
    expected, _ = live.prompter.encode([DIALOGUE])
    assert answers and answers[0]["summaries"][0]["summary"] == " ".join(map(str, expected[0]))


def test_a_client_that_leaves_while_queued_is_dropped_quietly_and_its_batch_serves_the_others(live):
    live.engine.gate.clear()
    first = connect(live.port)
    first.sendall(head("/summarize", len(body_of(DIALOGUE))) + body_of(DIALOGUE))
    assert live.engine.entered.wait(WAIT)  # the engine holds: what follows queues
    queued = {}
    for n in range(3):
        queued[n] = connect(live.port)
        queued[n].sendall(head("/summarize", len(body_of(numbered(n)))) + body_of(numbered(n)))
        until(lambda: live.batcher.depth() == n + 1, f"request {n} to queue")
    queued.pop(1).close()  # its client leaves while it waits
    until(lambda: live.batcher.depth() == 2, "the server to drop the request whose client left")
    live.engine.gate.set()
    expected, _ = live.prompter.encode([numbered(n) for n in range(3)])
    for n, sock in queued.items():
        status, raw = response(sock)
        assert status == 200 and json.loads(raw.partition(b"\r\n\r\n")[2])["summaries"][0]["summary"] == \
            " ".join(map(str, expected[n]))
        sock.close()
    assert response(first)[0] == 200
    assert live.engine.calls[1] == [expected[0], expected[2]]  # one engine call for the two left, nothing for 1
    first.close()
    # and no_errors_logged: no "exception was never retrieved" block for the request that was dropped


MALFORMED = [  # (what a client sends, status, words of the JSON detail): h11 refuses these before the app
    (b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n{}", 400, "bad Content-Length"),
    (b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400,
     "conflicting Content-Length headers"),
    (b"HELLO THERE\r\n\r\n", 400, "illegal request line"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40), 400, "illegal request line"),  # TLS to plain HTTP
    (b"GET /\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "illegal request line"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n", 400, "illegal header line"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\x00b\r\n\r\n", 400, "illegal header line"),
    (b"GET /health HTTP/1.1\r\n\r\n", 400, "Missing mandatory Host"),
    (b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
     "illegal chunk header"),
    (b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxZZ", 400,
     "malformed chunk footer"),
    (b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
     "Only Transfer-Encoding: chunked"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * 20_000, 431, "Receive buffer too long"),
]


def test_malformed_http_gets_a_json_error_and_a_closed_connection(live, caplog):
    for raw, status, words in MALFORMED:  # one server for the table: each case on a connection of its own
        with connect(live.port) as sock:
            sock.sendall(raw)
            got, answer = response(sock)
            assert sock.recv(1) == b"", words  # closed: what follows such bytes cannot be framed
        header, _, body = answer.partition(b"\r\n\r\n")
        assert got == status and b"content-type: application/json" in header.lower(), answer
        detail = json.loads(body)["detail"]
        assert words in detail and "bytearray" not in detail and "b'" not in detail, detail  # not the bytes back
    with connect(live.port) as sock:  # a switch of protocol asked for: answered as HTTP/1.1
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        assert response(sock)[0] == 200
    assert not [r for r in caplog.get_records("call") if "upgrade" in r.getMessage().lower()]  # nor install advice
    ok(live)


def test_a_broken_chunk_after_the_answer_closes_the_connection_without_a_traceback(live):
    with connect(live.port) as sock:  # a GET with a chunked body: answered before the body ends
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n")
        assert response(sock)[0] == 200
        sock.sendall(b"zz\r\n")  # uvicorn's own handler raised here ("Fatal error: protocol.data_received()")
        assert sock.recv(1) == b""  # closed, no second answer; no_errors_logged checks the log
    ok(live)


def test_past_max_connections_a_json_503_with_retry_after(prompter, no_errors_logged):  # noqa: F811
    service = app_.create_app({"m": Echo()}, prompter)
    with Live(service, limit_concurrency=2) as server:
        with connect(server.port), connect(server.port) as second:  # two idle connections reach the limit
            second.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, raw = response(second)
        header, _, body = raw.partition(b"\r\n\r\n")
        assert status == 503 and b"retry-after: 1" in header.lower() and b"application/json" in header
        assert "--max-connections" in json.loads(body)["detail"]
        assert httpx.get(f"{server.url}/health", timeout=WAIT).status_code == 200  # below the limit again


class Stop(BaseException):
    """Not an Exception: what an app's 500 handler does not catch (a cancellation, say)."""


def test_each_failure_is_a_json_500_with_one_traceback_in_the_log(prompter, caplog):  # noqa: F811
    class Broken(Echo):
        def summarize(self, inputs, progress=False):
            raise RuntimeError("engine failure")

    async def bare(scope, receive, send):  # fails before answering, and has no 500 handler of its own
        raise Stop()

    caplog.set_level(logging.INFO)
    failed = []
    for service, options in ((app_.create_app({"m": Broken()}, prompter), {}), (bare, {"lifespan": "off"})):
        with Live(service, **options) as server:
            answer = httpx.post(f"{server.url}/summarize", json={"dialogues": [DIALOGUE]}, timeout=WAIT)
            failed.append((answer.status_code, answer.headers["content-type"], answer.json()))
    assert failed == [(500, "application/json", {"detail": "internal error; the server's log has the details"})] * 2
    errors = [r.getMessage().splitlines()[0] for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    # the engine's failure logged by the app's handler only (Starlette raises it again for uvicorn to log), the
    # bare app's by uvicorn
    assert errors == ["error answering POST /summarize", "Exception in ASGI application"], errors
