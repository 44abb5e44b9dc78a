"""A sweep through DVC's experiment queue: two queued LoRA ranks run by two workers, then applied in turn."""
import json
import subprocess
import time

from project import clone_of, env, run


def _wait_for_queue(repo, timeout=600):
    """Poll `dvc queue status` until nothing is queued or running; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo).stdout
        if not any(state in status for state in ("Queued", "Running")):
            return status
        time.sleep(3)
    raise AssertionError(f"queue still busy after {timeout} s:\n{status}")


def test_queued_sweep_on_two_workers(tmp_path, pipeline_run, monkeypatch):
    # Two workers on two cores: one thread per stage, or torch's spinning threads fight over the cores.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # Queued experiments start from the last commit and see only git- or DVC-tracked files: the shared run is
    # committed with its dvc.lock, metrics and the .gitignore files DVC wrote for its outputs.
    repo = clone_of(pipeline_run.repo, tmp_path / "repo")

    for rank in (2, 4):
        run(["dvc", "exp", "run", "--queue", "-n", f"r{rank}", "-S", f"lora.r={rank}"], repo)
    try:
        # The workers it spawns outlive it and would hold captured pipes open: send their output nowhere.
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=repo, env=env(), check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        status = _wait_for_queue(repo)
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=repo, env=env(), timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert status.count("Success") == 2, status

    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    found = {}
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for revision in exp["revs"]:
                found[revision["name"]] = revision["data"]
    assert {"r2", "r4"} <= set(found), sorted(found)
    for rank in (2, 4):
        data = found[f"r{rank}"]
        assert data["params"]["params.yaml"]["data"]["lora"]["r"] == rank
        assert data["metrics"]["metrics/efficiency.json"]["data"]["lora"]["trainable_params"] > 0
    assert found["r2"]["metrics"]["metrics/efficiency.json"]["data"]["lora"]["trainable_params"] * 2 == \
        found["r4"]["metrics"]["metrics/efficiency.json"]["data"]["lora"]["trainable_params"]  # linear in r

    for rank in (4, 2):  # either experiment restores a workspace whose outputs match its lock file
        run(["dvc", "exp", "apply", f"r{rank}"], repo)
        assert f"r: {rank}" in (repo / "params.yaml").read_text()
        assert json.loads((repo / "metrics/train_lora.json").read_text())["optimizer_steps"] == 30
        status = run(["dvc", "status"], repo).stdout
        assert "up to date" in status, status
