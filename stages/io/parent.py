"""A stage lives no longer than the `dvc` that started it.

Killing `dvc repro` (SIGTERM or SIGKILL) does not stop the stage it runs: the stage would go on as an orphan and
write outputs that dvc.lock never records, over what a rerun is writing. So a process that DVC started (DVC sets
DVC_STAGE for every stage command) asks the kernel for a SIGTERM when its parent dies. Between `dvc` and the stage
there may be more processes, which no one stops when `dvc` dies: a shell that did not hand over (sh as dash), a
launcher (`torchrun`, `accelerate launch`). Then the stage also watches that chain up to `dvc`, and stops when a
link of it breaks. It runs as the `stages` package loads, before the seconds of library imports in which `dvc`
could already die. If `dvc` died even before that (the stage's Python was starting), no `dvc` is above the stage
any more; DVC's lock file then still names the dead `dvc` as the writer of the stage's outputs, and the stage stops
at once. A stage run by hand is left alone: it may outlive its terminal on purpose (nohup).
"""
import ctypes
import json
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
    if not chain:
        dead = _dead_writer()
        if dead is not None:
            print(f"error: the `dvc` that started stage {os.environ.get('DVC_STAGE')} (pid {dead}) has exited, so this "
                  "stage stops before writing outputs that dvc.lock would never record. Run `dvc repro` again.",
                  file=sys.stderr, flush=True)
            raise SystemExit(1)
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


def _dead_writer() -> int | None:
    """The pid of the `dvc` that started this stage if it has exited, else None. Before running a stage DVC notes
    itself in <repo>/.dvc/tmp/rwlock as the writer of each of the stage's outputs (dvc/rwlock.py); an entry is
    left behind when `dvc` is killed. Only the stage's own outputs count: other entries may be stale."""
    root = Path(os.environ.get("DVC_ROOT") or ".")
    try:
        lock = json.loads((root / ".dvc" / "tmp" / "rwlock").read_text(encoding="utf-8"))
        writers = {os.path.normpath(path): int(info["pid"]) for path, info in (lock.get("write") or {}).items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not writers:
        return None
    from . import declared  # yaml: imported only here, when no `dvc` is above the stage

    outs = declared.stage(os.environ.get("DVC_STAGE", ""), {}, root / "dvc.yaml")
    pids = {writers[path] for out in outs.outs + outs.uncached
            for path in {os.path.normpath(os.path.abspath(root / out)), os.path.realpath(root / out)}
            if path in writers}
    if not pids or any(_alive(pid) for pid in pids):
        return None
    return min(pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's
        return True
    return _state(pid) not in ("Z", "X")


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2:].split()[0]


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
