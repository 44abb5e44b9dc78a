"""The dynamic batcher with a fake engine: who shares an engine call, the bounded queue, errors, cancels and the
drain on close. Ordering comes from events, never from sleeps: each test is deterministic."""
import threading
import time

import pytest

from stages.serving.batcher import Batcher, QueueFull

WAIT = 30  # seconds a test waits for something that should happen at once: a hang fails instead of blocking


class Engine:
    """Records each call; `hold()` makes the next calls block until `release()`."""

    def __init__(self):
        self.calls, self.entered, self.gate = [], threading.Event(), threading.Event()
        self.gate.set()

    def hold(self):
        self.gate.clear()

    def release(self):
        self.gate.set()

    def __call__(self, inputs):
        self.calls.append([ids[0] for ids in inputs])
        self.entered.set()
        assert self.gate.wait(WAIT)
        return [f"summary of {ids[0]}" for ids in inputs]


def started(engine, max_batch=4, max_wait_s=0.0, capacity=16):
    return Batcher(engine, "m", max_batch, max_wait_s, capacity).start()


def results(futures):
    return [future.result(WAIT) for future in futures]


def test_dialogues_that_arrive_within_the_wait_share_one_engine_call():
    engine = Engine()
    batcher = started(engine, max_batch=4, max_wait_s=WAIT)  # waits for a full batch, never for WAIT
    futures = [batcher.submit([[n]])[0] for n in range(4)]
    done = results(futures)
    assert engine.calls == [[0, 1, 2, 3]]
    assert [d.summary for d in done] == [f"summary of {n}" for n in range(4)] and {d.batch for d in done} == {4}
    batcher.close()


def test_a_lone_dialogue_goes_alone_after_the_wait():
    engine = Engine()
    batcher = started(engine, max_batch=4, max_wait_s=0.0)
    assert results(batcher.submit([[7]]))[0].batch == 1 and engine.calls == [[7]]
    batcher.close()


def test_a_busy_engine_gathers_the_waiting_dialogues_up_to_max_batch_in_arrival_order():
    engine = Engine()
    batcher = started(engine, max_batch=4)
    engine.hold()
    first = batcher.submit([[0]])
    assert engine.entered.wait(WAIT)
    later = batcher.submit([[1], [2]]) + batcher.submit([[3], [4], [5]])  # two requests, split over two calls
    assert batcher.depth() == 5
    engine.release()
    done = results(first + later)
    assert engine.calls == [[0], [1, 2, 3, 4], [5]]
    assert [d.batch for d in done] == [1, 4, 4, 4, 4, 1]
    assert batcher.batches == 3 and batcher.dialogues == 6 and batcher.depth() == 0
    batcher.close()


def test_a_full_queue_refuses_a_whole_request_and_says_when_to_retry():
    engine = Engine()
    batcher = started(engine, max_batch=1, capacity=3)
    engine.hold()
    running = batcher.submit([[0]])
    assert engine.entered.wait(WAIT)
    queued = batcher.submit([[1], [2]])
    with pytest.raises(QueueFull, match="2 dialogues are waiting, the queue holds 3") as refused:
        batcher.submit([[3], [4]])  # one would fit: none is taken
    assert refused.value.retry_after >= 1 and batcher.depth() == 2
    batcher.reserve(1)  # room held for a request being encoded: counted, not yet queued
    assert batcher.depth() == 3
    with pytest.raises(QueueFull, match="3 dialogues are waiting"):
        batcher.reserve(1)
    with pytest.raises(QueueFull):
        batcher.submit([[6]])
    queued += batcher.submit([[5]], reserved=True)
    batcher.reserve(0)
    with pytest.raises(QueueFull):
        batcher.submit([[7]])
    engine.release()
    assert [d.summary for d in results(running + queued)] == ["summary of 0", "summary of 1", "summary of 2",
                                                              "summary of 5"]
    batcher.close()


def test_an_engine_error_reaches_its_batch_only_and_the_worker_goes_on():
    calls = []

    def engine(inputs):
        calls.append(inputs)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return ["ok"] * len(inputs)

    batcher = started(engine)
    failed = batcher.submit([[1]])
    with pytest.raises(RuntimeError, match="out of memory"):
        failed[0].result(WAIT)
    assert results(batcher.submit([[2]]))[0].summary == "ok"

    short = started(lambda inputs: ["one"])
    with pytest.raises(RuntimeError, match="returned 1 summaries for 2 dialogues"):
        results(short.submit([[1], [2]]))
    batcher.close()
    short.close()


def test_a_dialogue_whose_client_left_is_dropped_before_the_engine():
    engine = Engine()
    batcher = started(engine)
    engine.hold()
    running = batcher.submit([[0]])
    assert engine.entered.wait(WAIT)
    gone, kept = batcher.submit([[1]]), batcher.submit([[2]])
    assert gone[0].cancel() and batcher.depth() == 1
    engine.release()
    assert [d.summary for d in results(running + kept)] == ["summary of 0", "summary of 2"]
    assert engine.calls == [[0], [2]]
    batcher.close()


def test_close_serves_everything_queued_then_refuses_new_requests():
    engine = Engine()
    batcher = started(engine, max_batch=1)
    engine.hold()
    running = batcher.submit([[0]])
    assert engine.entered.wait(WAIT)
    queued = batcher.submit([[1], [2]])
    closing = threading.Thread(target=batcher.close)
    closing.start()
    deadline = time.monotonic() + WAIT
    while batcher.accepting and time.monotonic() < deadline:  # close() marks the queue closed, then joins
        time.sleep(0.001)
    with pytest.raises(QueueFull, match="shutting down"):
        batcher.submit([[9]])
    engine.release()
    closing.join(WAIT)
    assert not closing.is_alive()
    assert [d.summary for d in results(running + queued)] == ["summary of 0", "summary of 1", "summary of 2"]
    assert engine.calls == [[0], [1], [2]]
