"""A Ray cluster on loopback addresses for the tests: nodes started by `ray start --block` as child processes
of the test, each in its own process group, stopped by pid."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from project import BIN, env

HEAD_IP, NODE_IP = "127.0.0.2", "127.0.0.3"  # two "machines" (Ray maps 127.0.0.1 itself to the host's address)


def ray_env() -> dict:
    return {**env(), "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # stop at once: nothing to drain in a test
            "RAY_DEDUP_LOGS": "0"}


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def spawn_node(args: list[str], log: Path) -> subprocess.Popen:
    """`ray start ARGS --block`, its output in `log`; its runs' temporary folder (their clones, the machine's
    DVC cache) beside the log, so the test's folder holds everything; wait_started() waits for it."""
    tmp = log.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    with open(log, "wb") as sink:
        return subprocess.Popen([str(BIN / "ray"), "start", *args, "--block", "--disable-usage-stats"],
                                stdout=sink, stderr=subprocess.STDOUT, env={**ray_env(), "TMPDIR": str(tmp)},
                                start_new_session=True)


def start_node(args: list[str], log: Path, timeout: float = 90) -> subprocess.Popen:
    return wait_started(spawn_node(args, log), args, log, timeout)


def wait_started(node: subprocess.Popen, args: list[str], log: Path, timeout: float = 90) -> subprocess.Popen:
    """`node` once its log says the node runs; stopped, and the test failed with its log, if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if b"Ray runtime started" in log.read_bytes():
            return node
        if node.poll() is not None:
            break
        time.sleep(0.5)
    stop_node(node)
    raise AssertionError(f"ray start {' '.join(args)} did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop_node(node: subprocess.Popen) -> None:
    """SIGTERM to `ray start --block`, which stops the node's processes; its process group killed after."""
    if node.poll() is None:
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait(timeout=30)
    try:
        os.killpg(node.pid, signal.SIGKILL)  # anything of this node still in its group
    except ProcessLookupError:
        pass
