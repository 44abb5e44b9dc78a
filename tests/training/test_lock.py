"""A stage refuses to share its scratch folder with a live run, and stops when its parent dies."""
import os
import signal
import subprocess
import sys
import time

import pytest

from project import ROOT
from stages.training import lock
from stages.io.errors import UserError

HOLDER = "import sys, time; from stages.training import lock; lock.hold(sys.argv[1]); print('held', flush=True); time.sleep(60)"
CHILD = "import time; from stages.training import lock; lock.stop_with_parent(); print('ready', flush=True); time.sleep(60)"
PARENT = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', sys.argv[1]]); "
          "print(child.pid, flush=True); time.sleep(60)")


def _wait_gone(pid, seconds=20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_live_holder_blocks_a_second_run_and_a_dead_one_does_not(tmp_path):
    scratch = tmp_path / "models/.trainer/train_full"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(scratch)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"pid {holder.pid}\\) is still training"):
            lock.hold(scratch)
    finally:
        holder.kill()
        holder.wait()
    lock.hold(scratch)  # the kernel dropped the dead holder's lock
    assert (scratch.parent / "train_full.lock").read_text().strip() == str(os.getpid())
    lock.release(scratch)


def test_a_stage_stops_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    # The child writes to the parent's stdout: its pid (from the parent), then "ready" once it watches its parent.
    # Waiting for "ready" rather than a fixed sleep: under load, importing can outlast any sleep, and a parent
    # killed before the child's prctl leaves an orphan that this test would wrongly blame on stop_with_parent.
    lines = [parent.stdout.readline().strip(), parent.stdout.readline().strip()]
    child = int(next(line for line in lines if line.isdigit()))
    try:
        assert "ready" in lines, lines
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait_gone(child), "the orphaned child kept running"
    finally:
        for pid in (child, parent.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_read_only_models_folder_is_one_message(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    # A read-only file system refuses even root (CI runs as root, where permission bits do not).
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(models)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here (not root)")
    try:
        with pytest.raises(UserError, match="cannot write .*train_full.lock"):
            lock.hold(models / ".trainer" / "train_full")
    finally:
        subprocess.run(["umount", "-l", str(models)], check=True)
