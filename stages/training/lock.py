"""One training run per scratch folder at a time.

A rerun would resume from a checkpoint that a still-running earlier run is about to rotate away, so a second run
refuses to start while the first lives. (That no stage outlives the `dvc` that started it is stages/io/parent.py.)
"""
import os
from pathlib import Path

from ..io.errors import UserError


_held = {}  # lock path -> open handle: the lock lasts as long as this process


def hold(scratch, waiting: str | None = None) -> None:
    """Hold `<scratch>.lock` (the pid inside) until this process ends; refuse while another live process holds it,
    or with `waiting` (a note for the user, `{pid}` the holder's) say so and wait for it to end.

    An advisory flock is released by the kernel when its holder dies, however it dies, so a lock left by a
    killed run never blocks the next one."""
    import fcntl
    import sys

    scratch = Path(scratch)
    path = scratch.with_name(f"{scratch.name}.lock")
    if str(path) in _held:
        return
    try:
        scratch.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror or error}): the lock (and a training run's "
                        f"checkpoints) go in {scratch.parent}: make that folder writable (or run from a copy of the "
                        "project you own) and run again.") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        if waiting is not None:
            print(waiting.format(pid=holder), file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)  # Ctrl-C still stops the wait
        else:
            handle.close()
            raise UserError(f"another run of this stage (pid {holder}) is still training in {scratch}. Wait for "
                            f"it to finish, or stop it (kill {holder}) and run the stage again; two runs on one "
                            "scratch folder would delete each other's checkpoints.") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _held[str(path)] = handle


def release(scratch) -> None:
    handle = _held.pop(str(Path(scratch).with_name(f"{Path(scratch).name}.lock")), None)
    if handle is not None:
        handle.close()  # closing drops the flock
