"""A process DVC started stops when `dvc` dies, however it dies; one started by hand is left alone.

Real processes: a parent standing in for `dvc` starts a child that imports `stages` (as every stage does first),
then the parent is killed and the child must exit. One test runs the real `dvc repro` and SIGTERMs it.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from project import ROOT, env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; prctl is Linux's")

# A stage in miniature: import the package (which ties the process to its parent under DVC), say which signal
# the kernel will send when the parent dies (prctl PR_GET_PDEATHSIG), then wait for a "go" file, as a stage
# that is still working, and write its output.
CHILD = """
import ctypes, os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import stages
signal = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(signal), 0, 0, 0)
Path("pid").write_text(str(os.getpid()))
print("ready", os.getpid(), signal.value, flush=True)
deadline = time.monotonic() + 120
while not Path("go").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
Path("out.txt").write_text("written")
"""
PARENT = "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(120)"  # saved as "dvc"
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"  # as torchrun waits


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet (it runs no code)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def wait_gone(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False


def kill(*pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def child_script(folder: Path) -> Path:
    script = folder / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    return script


def start(folder: Path, argv: list[str], dvc: bool):
    """The stand-in parent running `argv`, and the child's (pid, parent-death signal) once it is ready."""
    environment = {**os.environ, "DVC_STAGE": "toy"} if dvc else {k: v for k, v in os.environ.items()
                                                                    if k != "DVC_STAGE"}
    (folder / "dvc").write_text(PARENT)  # a stand-in the stage recognises as `dvc`, as `python .../bin/dvc`
    parent = subprocess.Popen([sys.executable, str(folder / "dvc"), *argv], cwd=folder, env=environment,
                              stdout=subprocess.PIPE, text=True)
    line = parent.stdout.readline().split()  # the child inherits the pipe: its "ready" line
    assert line and line[0] == "ready", line
    return parent, int(line[1]), int(line[2])


@pytest.mark.parametrize("between", ["nothing", "a shell", "a launcher"])
def test_a_stage_dvc_started_exits_when_dvc_is_killed(tmp_path, between):
    script = child_script(tmp_path)
    # bash hands over to a single command, but sh (dash) and launchers such as torchrun keep running between
    # `dvc` and the stage, and nothing stops them when `dvc` dies: the stage watches the chain up to `dvc`
    argv = {"nothing": [sys.executable, str(script)],
            "a shell": ["/bin/sh", "-c", f"{sys.executable} {script}; true"],
            "a launcher": [sys.executable, "-c", LAUNCHER, sys.executable, str(script)]}[between]
    parent, child, pdeathsig = start(tmp_path, argv, dvc=True)
    try:
        assert pdeathsig == signal.SIGTERM
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_gone(child), "the orphaned stage kept running"
        (tmp_path / "go").touch()
        assert not (tmp_path / "out.txt").exists()
    finally:
        kill(child, parent.pid)
        parent.stdout.close()


def test_a_stage_run_by_hand_is_not_tied_to_its_shell(tmp_path):
    script = child_script(tmp_path)
    parent, child, pdeathsig = start(tmp_path, [sys.executable, str(script)], dvc=False)
    try:
        assert pdeathsig == 0  # nohup python -m stages.train_lora & may outlive the terminal on purpose
        (tmp_path / "go").touch()
        assert wait_gone(child) and (tmp_path / "out.txt").read_text() == "written"
    finally:
        kill(child, parent.pid)
        parent.stdout.close()


def test_sigterm_to_dvc_repro_stops_the_stage_before_it_writes(tmp_path):
    """The issue's case: `kill` of `dvc repro` while a stage runs; the stage used to write its outputs later."""
    child_script(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages:\n  toy:\n    cmd: python child.py\n    outs: [out.txt]\n")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path, env=env(), check=True)
    dvc = subprocess.Popen(["dvc", "repro"], cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _read(tmp_path / "pid") and time.monotonic() < deadline and dvc.poll() is None:
        time.sleep(0.05)
    child = int((tmp_path / "pid").read_text())
    try:
        dvc.send_signal(signal.SIGTERM)
        assert dvc.wait(timeout=60) != 0
        assert wait_gone(child), "the stage outlived dvc"
        (tmp_path / "go").touch()
        assert not (tmp_path / "out.txt").exists() and not (tmp_path / "dvc.lock").exists()
    finally:
        kill(child, dvc.pid)


def _rwlock(folder: Path, writers: dict[str, int]) -> None:
    """DVC's lock file as `dvc repro` leaves it when killed: each output's writer pid (dvc/rwlock.py)."""
    (folder / ".dvc" / "tmp").mkdir(parents=True, exist_ok=True)
    info = {str(folder / path): {"pid": pid, "cmd": "dvc repro"} for path, pid in writers.items()}
    (folder / ".dvc" / "tmp" / "rwlock").write_text(json.dumps({"write": info, "read": {}}))


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_stage_whose_dvc_died_before_it_could_tie_itself_stops_at_once(tmp_path):
    """`dvc` killed while the stage's Python was still starting: the stage no longer has `dvc` above it and the
    kernel sends it nothing; it used to run to the end and write outputs dvc.lock never recorded. DVC's lock file
    still names the dead `dvc` as the writer of the stage's outputs."""
    script = child_script(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages:\n  toy:\n    cmd: python child.py\n    outs: [out.txt]\n")
    (tmp_path / "go").touch()
    environment = {**os.environ, "DVC_STAGE": "toy", "DVC_ROOT": str(tmp_path)}

    def child():  # started by this test, not by a `dvc`
        return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=120)

    _rwlock(tmp_path, {"out.txt": _dead_pid()})
    stopped = child()
    assert stopped.returncode == 1 and not (tmp_path / "out.txt").exists()
    assert stopped.stderr.startswith("error: the `dvc` that started stage toy") and "Traceback" not in stopped.stderr

    # A stale entry for another output, and a live writer (DVC run from Python, not as `dvc`), stop nothing.
    _rwlock(tmp_path, {"other.txt": _dead_pid()})
    assert child().returncode == 0 and (tmp_path / "out.txt").read_text() == "written"
    (tmp_path / "out.txt").unlink()
    _rwlock(tmp_path, {"out.txt": os.getpid()})
    assert child().returncode == 0 and (tmp_path / "out.txt").read_text() == "written"
