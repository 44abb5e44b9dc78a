"""A stage refuses to share its scratch folder with a live run (stopping with its parent: tests/io/test_parent.py)."""
import os
import subprocess
import sys

import pytest

from project import ROOT
from stages.training import lock
from stages.io.errors import UserError

HOLDER = "import sys, time; from stages.training import lock; lock.hold(sys.argv[1]); print('held', flush=True); time.sleep(60)"


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
