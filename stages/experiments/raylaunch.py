"""Runs on a Ray cluster: the connection (bounded), one task per run holding its GPUs, a progress line per
update, Ctrl-C, and the experiments pulled back here."""
import logging
import socket
import subprocess
import sys
import threading
import time

from . import raytask, runs
from ..io.errors import UserError

UPDATE_S = 5.0  # how long the launcher waits for a run to end before it checks the cluster again
CANCEL_S = 60.0  # how long cancelled runs get to stop


def connect(address: str, timeout: float) -> None:
    """ray.init on `address`, or a message within `timeout` seconds: Ray itself retries for minutes."""
    import ray

    if address != "auto":
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 10)).close()
        except ValueError:
            raise UserError(f"--address {address!r}: give HOST:PORT of the Ray head (`ray start --head` prints "
                            "it; the port is 6379 unless --port says otherwise), or auto.") from None
        except OSError as error:
            raise UserError(f"nothing answers at {address} ({error.strerror or error}): start the Ray head there "
                            "(`ray start --head --port 6379`), or check the address and that its port is open "
                            "to this machine.") from None
    failed = []

    def init():
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except Exception as error:  # noqa: BLE001 - any failure is reported below, in one message
            failed.append(error)

    thread = threading.Thread(target=init, daemon=True)  # a hung connect cannot keep the process alive
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise UserError(f"{address} accepts connections but no Ray cluster answered within {timeout:.0f} s: is "
                        "it the port the head's `ray start --head --port` gave (6379 by default), and the same "
                        "Ray version as here? Raise --connect-timeout for a slow network.")
    if failed:
        raise UserError(f"cannot join the Ray cluster at {address}: {' '.join(str(failed[0]).split())[:400]}")


def capacity(gpus: float, cpus: float) -> int:
    """How many runs the live machines hold at once; 0 where none fits (an autoscaler may still add some)."""
    import ray

    held = 0
    for node in ray.nodes():
        if node.get("Alive"):
            have = node.get("Resources") or {}
            fits = [int(have.get("GPU", 0) // gpus)] if gpus else []
            fits += [int(have.get("CPU", 0) // cpus)] if cpus else []
            held += min(fits) if fits else 0
    return held


def launch(plan: list[dict], gpus: float, cpus: float, retries: int, model: str, metric: str,
           show=print) -> list[dict]:
    """Submit every planned run that is not skipped, report as they end; each run's dict gets its status and
    result. Ctrl-C cancels what has not ended and returns with those runs marked cancelled."""
    import ray
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(raytask)  # the workers need no copy of this repository
    task = ray.remote(raytask.run)
    pending = {}
    for run in plan:
        if run["status"] == "queued":
            options = dict(num_gpus=gpus, num_cpus=cpus, max_retries=retries, retry_exceptions=False,
                           name=f"raysweep {run['name']}")
            pending[task.options(**options).remote(run["spec"])] = run
    if pending and not capacity(gpus, cpus):
        show(f"note: no machine of the cluster has {gpus:g} GPUs and {cpus:g} CPUs, what a run asks for; the runs "
             "wait until one joins (an autoscaler may add one; Ctrl-C to stop).")
    show(progress(plan, model, metric, gpus, cpus))
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=UPDATE_S)
            for ref in ready:
                _finish(pending.pop(ref), ref, retries, model, metric)
                show(progress(plan, model, metric, gpus, cpus))
    except KeyboardInterrupt:
        if not pending:
            raise
        show(f"interrupted: cancelling {len(pending)} run(s) not finished ...")
        for ref in pending:  # a KeyboardInterrupt in each task: it stops its DVC and removes its clone
            ray.cancel(ref)
        _, left = ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_S / 2)
        for ref in left:  # then its worker killed, the run's processes with it (raytask.GUARD)
            ray.cancel(ref, force=True)
        ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_S / 2)
        for ref, run in pending.items():  # one may have finished, pushed, before the cancel reached it
            _finish(run, ref, retries, model, metric, timeout=0)
        raise
    return plan


def _finish(run: dict, ref, retries: int, model: str, metric: str, timeout=None) -> None:
    import ray

    try:
        result = ray.get(ref, timeout=timeout)
    except (ray.exceptions.TaskCancelledError, ray.exceptions.GetTimeoutError):
        run["status"] = "cancelled"
        return
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError,
            ray.exceptions.RaySystemError) as error:  # Ray's retries are spent
        said = " ".join(str(error).split())[:600]
        run.update(status="failed", step="ray",
                   tail=[f"its worker or machine died {retries + 1} time(s): {type(error).__name__}: {said}"])
        return
    except ray.exceptions.RayTaskError as error:  # the task itself raised (not retried): say what
        run.update(status="failed", step="ray", tail=str(error).splitlines()[-20:])
        return
    run.update(result)
    run["score"] = score(result.get("metrics") or {}, model, metric)


def score(metrics: dict, model: str, metric: str):
    """`metric` of `model` from the run's metrics files (read as `dvc exp show` would give them), or None."""
    from ..io import jsonl

    parsed = {}
    for path, text in metrics.items():
        try:
            parsed[path] = {"data": jsonl.loads(text)}
        except jsonl.BadJSON:
            continue
    return state_score({"data": {"metrics": parsed}}, model, metric)


def state_score(state: dict, model: str, metric: str):
    """`metric` of `model` in a run as `dvc exp show --json` lists it, or None."""
    try:
        return runs.metrics(state, model, runs.PRIMARY)[metric]
    except KeyError:
        return None


def progress(plan: list[dict], model: str, metric: str, gpus: float, cpus: float) -> str:
    """One line: how many runs are done, failed, skipped, running and queued, and the best score so far."""
    count = {state: sum(r["status"] == state for r in plan) for state in ("done", "failed", "skipped", "queued")}
    running = min(count["queued"], capacity(gpus, cpus))
    scored = [r for r in plan if r["status"] in ("done", "skipped") and r.get("score") is not None]
    best = max(scored, key=lambda r: r["score"], default=None)
    line = (f"[{time.strftime('%H:%M:%S')}] done {count['done']}, failed {count['failed']}, skipped "
            f"{count['skipped']}, running {running}, queued {count['queued'] - running} of {len(plan)}")
    if best:
        line += f"; best {model} {metric} {best['score']:.4f} ({best['name']}: {best['label']})"
    return line


def pull(remote: str, names: list[str], cache: bool) -> None:
    """The finished runs' experiments (and, with `cache`, their outputs) into this repository."""
    if not names:
        return
    command = [sys.executable, "-m", "dvc", "exp", "pull", *([] if cache else ["--no-cache"]), remote, *names]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"the runs finished and are on {remote!r}, but pulling them here failed: "
                        f"{done.stderr.strip()[-600:]} Pull them with `dvc exp pull {remote} {' '.join(names)}`.")
