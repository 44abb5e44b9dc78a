"""A stage lives no longer than the `dvc` that started it.

Killing `dvc repro` (SIGTERM or SIGKILL) does not stop the stage it runs: the stage would go on as an orphan and
write outputs that dvc.lock never records, over what a rerun is writing. So a process that DVC started (DVC sets
DVC_STAGE for every stage command) asks the kernel for a SIGTERM when its parent dies; where DVC's shell did not
hand over to the stage (sh as dash keeps running beside it), it also watches the shell's parent. It runs as the
`stages` package loads, before the seconds of library imports in which the parent could already die. A stage
run by hand is left alone: it may outlive its terminal on purpose (nohup).
"""
import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "fish"}


def under_dvc() -> bool:
    return bool(os.environ.get("DVC_STAGE"))


def stop_with_parent() -> None:
    """SIGTERM this process when its parent dies (prctl on Linux; a polling thread elsewhere), or, when the
    parent is a shell, when the shell's own parent dies."""
    parent = os.getppid()
    tied = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            tied = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
        except (OSError, AttributeError):
            pass
    shell_parent = _parent_of(parent) if _name(parent) in SHELLS else None
    if tied and shell_parent is None:
        return
    _watch(parent, shell_parent)


def _watch(parent: int, shell_parent: int | None) -> None:
    def alive() -> bool:
        return os.getppid() == parent and (shell_parent is None or _parent_of(parent) == shell_parent)

    def watch():
        while alive():
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _parent_of(pid: int) -> int | None:
    """The parent pid of `pid` (Linux /proc); None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])  # after "pid (comm) state": ppid
