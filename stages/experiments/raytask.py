"""One sweep run on a Ray worker: a fresh clone at the launch commit, `dvc exp run --pull` in it, its outputs
pushed to the DVC remote and only then the experiment to the git remote, the clone removed.

This module travels to the workers by value (stages/experiments/raylaunch.py registers it with cloudpickle),
so it imports nothing from the project: a worker needs Ray, git and the project's requirements, not a copy of
this repository. Every command is a list of arguments, never a shell line: a setting's text reaches DVC whole.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAIL = 20  # log lines a failed run reports
PUSH = ("import sys; from dvc.cli import main; "
        "sys.exit(main(['push']) or main(['exp', 'push', '--no-cache', '--force', 'origin', sys.argv[1]]))")
# Runs between the Ray worker and DVC: when the worker dies (killed, its machine lost), the kernel sends this
# process SIGTERM and it kills DVC's whole process group, so no stage of a dead attempt runs on beside its retry.
# (Ray 2.60 on Linux also kills a dead worker's processes; this does not rely on it.) A cancelled run's
# KeyboardInterrupt stops DVC through it too.
GUARD = """
import ctypes, os, signal, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(143)  # the worker died before the line above
child = subprocess.Popen(sys.argv[2:], start_new_session=True)
def stop(*_):
    os.killpg(child.pid, signal.SIGKILL)
    os._exit(143)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
sys.exit(child.wait())
"""


def run(spec: dict) -> dict:
    """Run one experiment as `spec` says: {name, settings (the -S values), commit, git_url, metrics (files to
    read back), workdir (None: the temp folder), identity (git author)}. Returns what the launcher reports:
    {name, status: done|failed, node, ip, gpus, seconds, metrics: {path: text}, tail (failed: last lines)}."""
    import ray

    context = ray.get_runtime_context()
    started = time.time()
    out = {"name": spec["name"], "node": context.get_node_id(), "ip": ray.util.get_node_ip_address(),
           "gpus": [str(g) for g in ray.get_gpu_ids()], "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}
    base = Path(spec.get("workdir") or tempfile.gettempdir())
    _remove_dead(base)
    folder = Path(tempfile.mkdtemp(prefix=f"raysweep-{spec['name']}-", dir=base))
    (folder / "worker.pid").write_text(str(os.getpid()))
    clone, log = folder / "repo", folder / "log.txt"
    env = _env(spec)
    if not out["gpus"]:  # Ray leaves a run without GPUs the machine's whole CUDA_VISIBLE_DEVICES: none it booked
        env["CUDA_VISIBLE_DEVICES"] = ""
    try:
        dvc = [sys.executable, "-m", "dvc"]
        steps = [
            ("git clone", ["git", "clone", "--quiet", "--no-checkout", spec["git_url"], str(clone)]),
            ("git checkout", ["git", "-C", str(clone), "-c", "advice.detachedHead=false", "checkout", "--quiet",
                              spec["commit"]]),
            ("dvc exp run", [*dvc, "exp", "run", "--pull", "-n", spec["name"],
                             *[arg for setting in spec["settings"] for arg in ("-S", setting)]]),
            # the outputs first, the experiment's git ref last: a ref on the remote always has its data there
            # (`dvc exp push` alone sends the ref first); one Python for both, DVC's own command line twice
            ("dvc push, dvc exp push", [sys.executable, "-c", PUSH, spec["name"]]),
        ]
        for label, step in steps:
            if label == "dvc exp run":
                _share_cache(clone, base / "raysweep-cache")
            code = _call(label, step, clone if label.startswith("dvc") else folder, env, log)
            if code != 0:
                return out | {"status": "failed", "code": code, "seconds": time.time() - started,
                              "step": label, "tail": _tail(log)}
        metrics = {}
        for path in spec.get("metrics", ()):
            try:
                metrics[path] = (clone / path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                pass  # a run without the file is still a run; the launcher shows no score for it
        return out | {"status": "done", "seconds": time.time() - started, "metrics": metrics}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _share_cache(clone: Path, cache: Path) -> None:
    """One DVC cache for every run on this machine (this clone's .dvc/config.local, which git never holds): the
    base model and the prepared data are pulled once per machine, not once per run. DVC writes each object to a
    temporary name and renames it, so runs side by side share it safely."""
    if any(char in str(cache) for char in "\"'#\n\\"):
        return  # a path .dvc/config cannot hold as written: each run keeps its own cache
    cache.mkdir(exist_ok=True)
    with open(clone / ".dvc" / "config.local", "a", encoding="utf-8") as config:
        config.write(f"[cache]\n    dir = {json.dumps(str(cache))}\n")


def _env(spec: dict) -> dict:
    """The worker's environment, its Python first on PATH (the stages' `python -m ...`), the launching user as
    the experiment's git author where the worker has none."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["DVC_NO_ANALYTICS"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"  # a git remote asking for a password fails instead of waiting forever
    name, email = spec.get("identity") or ("raysweep", "raysweep@localhost")
    for who in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{who}_NAME", name)
        env.setdefault(f"GIT_{who}_EMAIL", email)
    return env


def _call(label: str, args: list[str], cwd: Path, env: dict, log: Path) -> int:
    with open(log, "ab") as sink:
        sink.write(f"$ {label}\n".encode())  # not the arguments: the git URL may hold a token
        sink.flush()
        process = subprocess.Popen([sys.executable, "-c", GUARD, str(os.getpid()), *args], cwd=cwd, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
        try:
            return process.wait()
        except BaseException:  # Ray's cancel raises KeyboardInterrupt here: stop the run before going
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            raise


def _tail(log: Path) -> list[str]:
    try:
        return log.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL:]
    except OSError:
        return []


def _remove_dead(base: Path) -> None:
    """The folders that attempts of any run left on this machine when their worker died (its pid gone)."""
    for folder in base.glob("raysweep-*-*"):
        try:
            pid = int((folder / "worker.pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours to judge: another user's, or half made
