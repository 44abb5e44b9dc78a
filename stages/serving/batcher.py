"""Dynamic batching: concurrent requests' dialogues share one engine call per model.

One worker thread per model takes the oldest waiting dialogues, up to `max_batch`, waiting at most `max_wait_s`
after the oldest arrived for more to join, and runs one engine call; each dialogue's future then resolves. The
queue holds at most `capacity` dialogues, counting those reserved while their request is encoded: a request
that does not fit whole is refused at once (QueueFull), so a burst costs a quick 503 instead of unbounded memory
and latency. `close()` stops taking requests, serves
every dialogue already queued, then ends the thread.
"""
import math
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass


class QueueFull(Exception):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Done:
    summary: str
    queue_s: float  # from admission to the start of its engine call
    engine_s: float  # that engine call, shared with the rest of its batch
    batch: int  # dialogues in that engine call


@dataclass
class _Job:
    ids: list[int]
    future: Future
    queued: float


class Batcher:
    def __init__(self, summarize, name: str, max_batch: int, max_wait_s: float, capacity: int):
        self.summarize, self.name = summarize, name
        self.max_batch, self.max_wait_s, self.capacity = max_batch, max_wait_s, capacity
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._reserved = 0  # room held for dialogues being encoded
        self._thread = threading.Thread(target=self._work, name=f"batcher-{name}", daemon=True)
        self.batches = 0  # engine calls so far
        self.dialogues = 0  # dialogues summarized so far
        self._mean_s = 0.0  # running mean of an engine call's seconds: what Retry-After is estimated from

    def start(self) -> "Batcher":
        self._thread.start()
        return self

    @property
    def accepting(self) -> bool:
        return not self._closed

    def depth(self) -> int:
        """Dialogues waiting for an engine call (or being encoded for one), less those whose client has left."""
        with self._ready:
            return self._reserved + sum(not job.future.cancelled() for job in self._jobs)

    def reserve(self, count: int) -> None:
        """Hold room for `count` dialogues while they are encoded, or QueueFull: a refusal before any work.
        Then submit(..., reserved=True) them, or release(count) if they are not coming."""
        with self._ready:
            self._check_room(count)
            self._reserved += count

    def release(self, count: int) -> None:
        with self._ready:
            self._reserved -= count

    def submit(self, inputs: list[list[int]], reserved: bool = False) -> list[Future]:
        """Queue a request's dialogues, all or none; each future gets a Done or the engine's exception."""
        with self._ready:
            if reserved:
                self._reserved -= len(inputs)
            self._check_room(len(inputs))
            now = time.monotonic()
            jobs = [_Job(ids, Future(), now) for ids in inputs]
            self._jobs.extend(jobs)
            self._ready.notify()
        return [job.future for job in jobs]

    def _check_room(self, count: int) -> None:
        if self._closed:
            raise QueueFull("the server is shutting down", 1)
        if len(self._jobs) + self._reserved + count > self.capacity:
            self._jobs = deque(job for job in self._jobs if not job.future.cancelled())  # their clients left
        waiting = len(self._jobs) + self._reserved
        if waiting + count > self.capacity:
            raise QueueFull(f"model {self.name}: {waiting} dialogues are waiting, the queue holds "
                            f"{self.capacity}; retry later", self._retry_after(waiting))

    def close(self) -> None:
        """Refuse new requests, finish every queued one, stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _retry_after(self, waiting: int) -> int:
        """Whole seconds until the queue has likely drained: batches ahead times an engine call's mean."""
        return max(1, math.ceil((waiting / self.max_batch + 1) * self._mean_s))

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self._run(batch)

    def _take(self) -> list[_Job] | None:
        with self._ready:
            while not self._jobs:
                if self._closed:
                    return None
                self._ready.wait()
            # Wait for company, counted from the oldest's arrival: a request that already waited out a busy
            # engine call is not held back any further.
            deadline = self._jobs[0].queued + self.max_wait_s
            while len(self._jobs) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch = []
            while self._jobs and len(batch) < self.max_batch:
                job = self._jobs.popleft()
                if job.future.set_running_or_notify_cancel():  # False: its client left while it waited
                    batch.append(job)
            return batch

    def _run(self, batch: list[_Job]) -> None:
        if not batch:
            return
        started = time.monotonic()
        try:
            summaries = self.summarize([job.ids for job in batch])
            if len(summaries) != len(batch):
                raise RuntimeError(f"the engine returned {len(summaries)} summaries for {len(batch)} dialogues")
        except BaseException as error:  # noqa: BLE001 - handed to each waiting request, never kills the worker
            for job in batch:
                job.future.set_exception(error)
            return
        seconds = time.monotonic() - started
        self.batches += 1
        self.dialogues += len(batch)
        self._mean_s += (seconds - self._mean_s) / min(self.batches, 20)  # recent calls weigh most
        for job, summary in zip(batch, summaries):
            job.future.set_result(Done(summary, started - job.queued, seconds, len(batch)))
