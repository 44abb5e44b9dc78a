"""Clients TestClient cannot play, against a real uvicorn on 127.0.0.1: one that stalls mid-body, one that leaves
mid-request, chunked and oversized bodies, a burst of concurrent requests. A fake engine; exact status codes;
no error may reach the server's log."""
import asyncio
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
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
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
