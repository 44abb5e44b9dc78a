"""A stage lives no longer than the `dvc` that started it.

Killing `dvc repro` (SIGTERM or SIGKILL) does not stop the stage it runs: the stage would go on as an orphan and
write outputs that dvc.lock never records, over what a rerun is writing. So a process that DVC started (DVC sets
DVC_STAGE for every stage command) asks the kernel for a SIGTERM when its parent dies. Between `dvc` and the stage
there may be more processes, which no one stops when `dvc` dies: a shell that did not hand over (sh as dash), a
launcher (`torchrun`, `accelerate launch`). Then the stage also watches that chain up to `dvc`, and stops when a
link of it breaks. It runs as the `stages` package loads, before the seconds of library imports in which `dvc`
could already die. A stage run by hand is left alone: it may outlive its terminal on purpose (nohup).
"""
import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_CHAIN = 8  # dvc -> shell -> launcher -> stage is 3; beyond this, no dvc is above us


def under_dvc() -> bool:
    return bool(os.environ.get("DVC_STAGE"))


def stop_with_parent() -> None:
    """SIGTERM this process when its parent dies (prctl on Linux; a polling thread elsewhere), and when any
    process between it and `dvc` dies."""
    parent = os.getppid()
    tied = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            tied = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
        except (OSError, AttributeError):
            pass
    chain = _chain_to_dvc(parent)
    if tied and len(chain) < 2:
        return
    _watch(chain or [(parent, None)])


def _chain_to_dvc(parent: int) -> list[tuple[int, int | None]]:
    """(pid, its parent pid) from our parent up to the nearest `dvc`; [] when no `dvc` is above us."""
    chain, pid = [], parent
    for _ in range(MAX_CHAIN):
        above = _parent_of(pid)
        chain.append((pid, above))
        if _is_dvc(pid):
            return chain
        if not above or above <= 1:
            return []
        pid = above
    return []


def _watch(chain: list[tuple[int, int | None]]) -> None:
    parent = chain[0][0]

    def intact() -> bool:
        return os.getppid() == parent and all(_parent_of(pid) == above for pid, above in chain[:-1])

    def watch():
        while intact():
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def _is_dvc(pid: int) -> bool:
    """`dvc ...` (its console script, as comm or argv[0]/argv[1]) or `python -m dvc ...`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    names = [os.path.basename(arg.decode(errors="replace")) for arg in argv[:2]]
    return comm == "dvc" or "dvc" in names or argv[1:3] == [b"-m", b"dvc"]


def _parent_of(pid: int) -> int | None:
    """The parent pid of `pid` (Linux /proc); None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])  # after "pid (comm) state": ppid
