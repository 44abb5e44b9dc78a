"""Sweeps on a Ray cluster (python -m stages.raysweep): a real head on a loopback address declaring 2 GPUs on
this CPU machine, a git remote and a DVC remote in folders, and a one-stage pipeline that records what each
run saw (CUDA_VISIBLE_DEVICES, start and end) in its metrics; the refusals on their own, without a cluster."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from project import ROOT, env, run
from raycluster import HEAD_IP, NODE_IP, free_port, ray_env, spawn_node, start_node, stop_node, wait_started
from stages import raysweep
from stages.experiments import grid, raylaunch, sweepplan
from stages.io.errors import UserError

# What the stage writes, and how it is made to fail or to kill its Ray worker (a machine lost mid-run).
RECORD = textwrap.dedent('''\
    import json, os, sys, time
    import yaml

    params = yaml.safe_load(open("params.yaml"))
    rec, r = params["record"], params["lora"]["r"]
    start = time.time()
    if r == rec["fail_at"]:
        print("the record stage fails on purpose", file=sys.stderr)
        sys.exit(3)
    marker = os.path.join(rec["marks"], f"killed-{r}")
    if r == rec["doomed_at"] or (r == rec["kill_at"] and not os.path.exists(marker)):
        open(marker, "a").write("killed\\n")
        pid = os.getpid()
        while pid > 1:  # up to the Ray worker running this attempt
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            if open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"ray::"):
                os.kill(pid, 9)
                time.sleep(120)  # the guard kills this process with the worker
    time.sleep(rec["seconds"])
    os.makedirs("metrics", exist_ok=True)
    os.makedirs("models/lora", exist_ok=True)
    open("models/lora/adapter.txt", "w").write(f"rank {r}\\n")
    score = r / 100
    json.dump({"lora": {k: score for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")}},
              open("metrics/rouge.json", "w"))
    json.dump({"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start, "end": time.time()},
              open("metrics/run.json", "w"))
    ''')
DVC_YAML = {"stages": {"record": {"cmd": "python record.py", "deps": ["record.py"], "params": ["lora", "record"],
                                  "outs": ["models/lora"],
                                  "metrics": [{"metrics/rouge.json": {"cache": False}},
                                              {"metrics/run.json": {"cache": False}}]}}}
SWEEP_YAML = "sweep:\n  gpus_per_run: 1\n  cpus_per_run: 1\n  retries: 2\n"  # as the project's params.yaml
HOSTILE = "it's \"quoted\"; rm -rf / $(touch pwned) `id`\nsecond line, with a comma"


def hostile_setting() -> str:
    escaped = HOSTILE.replace("\\", "\\\\").replace("'", "\\'")
    return f"record.note='{escaped}'"


@pytest.fixture(scope="session")
def ray_head():
    """One Ray head for the session on a loopback address, declaring 2 GPUs and 2 CPUs; stopped at the end.
    Ray's socket paths must stay short (108 bytes): its folder is a short one in /tmp."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    port = free_port(HEAD_IP)
    head = start_node(["--head", "--node-ip-address", HEAD_IP, "--port", str(port), "--num-gpus", "2",
                       "--num-cpus", "2", "--include-dashboard", "false", "--object-store-memory", "100000000",
                       "--temp-dir", str(folder)], folder / "head.log")
    try:
        yield SimpleNamespace(address=f"{HEAD_IP}:{port}", tmp=folder / "tmp")  # tmp: the runs' temporary folder
    finally:
        stop_node(head)
        shutil.rmtree(folder, ignore_errors=True)


def make_sweep_project(root: Path) -> Path:
    """A committed git + DVC repo with the record stage, pushed to a bare `origin`; its DVC remote, an absolute
    folder, committed (every machine uses it)."""
    repo, origin, storage, marks = root / "repo", root / "origin.git", root / "storage", root / "marks"
    for folder in (repo, marks):
        folder.mkdir(parents=True)
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "record.py").write_text(RECORD)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump({
        "lora": {"r": 8}, "record": {"seconds": 1, "fail_at": 5, "kill_at": 3, "doomed_at": 6, "marks": str(marks),
                                      "note": ""},
        **yaml.safe_load(SWEEP_YAML)}))
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "remote", "add", "-d", "storage", str(storage)], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "record pipeline"], repo)
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], root)
    run(["git", "remote", "add", "origin", str(origin)], repo)
    run(["git", "push", "-q", "origin", "main"], repo)
    return repo


def sweep(repo: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stages.raysweep", *args], cwd=repo, env=ray_env(),
                          capture_output=True, text=True, timeout=timeout)


def processes_in_clones() -> list[str]:
    """The working folders of the processes working in a run's clone."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            found += [os.readlink(proc / "cwd")] if proc.name.isdigit() else []
        except OSError:
            continue  # gone, or another user's
    return [cwd for cwd in found if "/raysweep-" in cwd]


def experiments(repo: Path) -> dict:
    """{name: data} of every experiment `dvc exp show --json` lists."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    return {rev["name"]: rev["data"] for commit in shown for exp in commit.get("experiments") or []
            for rev in exp["revs"]}


@pytest.mark.slow  # a Ray cluster, DVC three times in every run
def test_four_runs_on_two_gpus_a_killed_worker_and_a_failing_run(ray_head, tmp_path):
    repo = make_sweep_project(tmp_path)
    grid = ["-S", "lora.r=1,2,3,4,5,6", "-S", hostile_setting()]
    done = sweep(repo, "--address", ray_head.address, *grid, "--retries", "1", "--summary", "summary.json")
    report = done.stdout + done.stderr
    assert done.returncode == 1, report  # runs failed
    assert "done 4, failed 2, skipped 0, running 0, queued 0 of 6" in done.stdout, report
    assert "best lora rougeL 0.0400" in done.stdout, report
    runs = {json.dumps(r["settings"][:1]): r for r in json.loads((repo / "summary.json").read_text())}
    failed = runs['["lora.r=5"]']
    assert failed["status"] == "failed" and "the record stage fails on purpose" in "\n".join(failed["tail"])
    assert "failed" in done.stdout and "lora.r=5" in done.stdout and "fails on purpose" in done.stdout

    found = experiments(repo)
    assert len(found) == 4, sorted(found)
    seen = []
    for data in found.values():
        params = data["params"]["params.yaml"]["data"]
        record = data["metrics"]["metrics/run.json"]["data"]
        assert params["record"]["note"] == HOSTILE  # one argument all the way to DVC
        assert data["metrics"]["metrics/rouge.json"]["data"]["lora"]["rougeL"] == params["lora"]["r"] / 100
        assert record["cuda"] in ("0", "1"), record  # one GPU each, as Ray pinned it
        seen.append((params["lora"]["r"], record["cuda"], record["start"], record["end"]))
    assert sorted(r for r, *_ in seen) == [1, 2, 3, 4]
    for gpu in ("0", "1"):  # never two runs at once on one GPU
        spans = sorted((start, end) for _, cuda, start, end in seen if cuda == gpu)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), spans
    assert (tmp_path / "marks" / "killed-3").read_text() == "killed\n"  # r=3's first worker was killed; the
    assert runs['["lora.r=3"]']["status"] == "done"                          # retry landed it
    doomed = runs['["lora.r=6"]']  # its worker killed on every attempt: 1 + --retries 1, then reported
    assert (tmp_path / "marks" / "killed-6").read_text() == "killed\n" * 2
    assert doomed["status"] == "failed" and "its worker or machine died 2 time(s)" in doomed["tail"][0], doomed
    # On the git remote: exactly the four experiments that succeeded, nothing of the failed one.
    refs = run(["git", "ls-remote", str(tmp_path / "origin.git"), "refs/exps/*"], repo).stdout.splitlines()
    assert len(refs) == 4, refs
    assert not (Path("/") / "pwned").exists() and not (repo / "pwned").exists()
    # Nothing of any attempt is left: no process in a run's clone (the killed one's stage was sleeping), no clone.
    names = {r["name"] for r in runs.values()}
    assert not [p for p in processes_in_clones() if any(n in p for n in names)]
    # (a run whose last attempt's worker died leaves its clone to the next run on that machine to remove)
    left = [f.name for f in ray_head.tmp.glob("raysweep-*") if f.name != "raysweep-cache"]
    assert not [name for name in left if doomed["name"] not in name], left
    assert list((ray_head.tmp / "raysweep-cache" / "files" / "md5").glob("*/*"))  # the machine's one DVC cache

    # The same grid again: every run exists with its params, so nothing is started (no cluster is even asked).
    again = sweep(repo, "--address", "127.0.0.1:1", "-S", "lora.r=1,2,3,4", "-S", hostile_setting())
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 run(s) from commit" in again.stdout and "0 to run, 4 already done" in again.stdout
    assert again.stdout.count("skipped") == 4


@pytest.mark.slow
def test_a_second_machine_joins_and_takes_runs(ray_head, tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="ray2-", dir="/tmp"))
    args = ["--address", ray_head.address, "--node-ip-address", NODE_IP, "--num-gpus", "2", "--num-cpus", "2",
            "--object-store-memory", "100000000"]
    node = spawn_node(args, folder / "node.log")
    try:
        repo = make_sweep_project(tmp_path)  # while the node starts
        wait_started(node, args, folder / "node.log")
        # two GPUs a run: each machine holds one at a time, so two runs at once are on two machines
        done = sweep(repo, "--address", ray_head.address, "-S", "lora.r=7,8", "--gpus-per-run", "2",
                     "--summary", "summary.json")
    finally:
        stop_node(node)
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads((repo / "summary.json").read_text())
    assert [r["status"] for r in runs] == ["done", "done"]
    assert {r["ip"] for r in runs} == {HEAD_IP, NODE_IP}, runs
    assert all(r["cuda"] == "0,1" for r in runs), runs
    assert len(experiments(repo)) == 2


def test_an_address_where_no_cluster_answers_is_one_message_within_the_timeout():
    closed = free_port("127.0.0.1")
    for address, said in ((f"127.0.0.1:{closed}", "nothing answers at"), ("no-port", "give HOST:PORT")):
        with pytest.raises(UserError, match=said):
            raylaunch.connect(address, 30)
    with socket.socket() as silent:  # accepts connections, never speaks: Ray alone would retry for minutes
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        # in a process of its own: the connection Ray leaves hanging must not stay in the test's process
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from stages.io.errors import run; from stages.experiments "
             "import raylaunch; run(raylaunch.connect, sys.argv[1], 1.0)", f"127.0.0.1:{silent.getsockname()[1]}"],
            cwd=ROOT, env={**ray_env(), "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no Ray cluster answered within 1 s" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def small_repo(root: Path, storage: str | None = "/srv/dvc-store", push: bool = True) -> Path:
    """A git + DVC repo with params.yaml and a bare origin, made without any CLI start of DVC."""
    from dvc.repo import Repo

    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "params.yaml").write_text("lora:\n  r: 8\nrecord:\n  note: ''\n" + SWEEP_YAML)
    run(["git", "init", "-q", "-b", "main"], repo)
    Repo.init(str(repo)).close()
    if storage:
        (repo / ".dvc" / "config").write_text(f"[core]\n    remote = storage\n['remote \"storage\"']\n"
                                             f"    url = {storage}\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "base"], repo)
    run(["git", "init", "-q", "--bare", "-b", "main", str(root / "origin.git")], root)
    run(["git", "remote", "add", "origin", str(root / "origin.git")], repo)
    if push:
        run(["git", "push", "-q", "origin", "main"], repo)
    return repo


def _dirty(repo):
    (repo / "params.yaml").write_text("lora:\n  r: 16\n")


def _unpushed(repo):
    run(["git", "commit", "-q", "--allow-empty", "-m", "local only"], repo)


def _no_origin(repo):
    run(["git", "remote", "remove", "origin"], repo)


def _commit(repo, params_yaml):
    (repo / "params.yaml").write_text(params_yaml)
    run(["git", "commit", "-qam", "params"], repo)
    run(["git", "push", "-q", "origin", "main"], repo)


def _local_override(repo):
    (repo / ".dvc" / "config.local").write_text("['remote \"storage\"']\n    url = /elsewhere\n")


REFUSED = [  # (what is done to a good repo, arguments, what the message says)
    (_dirty, [], "uncommitted changes (params.yaml)"),
    (_unpushed, [], "is not on the git remote 'origin'"),
    (_no_origin, [], "has no git remote 'origin'"),
    (_local_override, [], "is '/elsewhere' here but '/srv/dvc-store' as committed"),
    (None, ["-S", "other.yaml:lora.r=4"], "the stages read only params.yaml"),
    (None, ["-S", "lora.r=[1,"], "cannot read the -S settings"),
    (None, ["-S", "lora.nothing=1"], "do not apply to params.yaml"),
    (None, ["--prefix", "../x"], "--prefix '../x'"),
    (None, ["--gpus-per-run", "-1"], "--gpus-per-run: must be in [0, 64], got -1.0."),
    (None, ["--gpus-per-run", "0", "--cpus-per-run", "0"], "--cpus-per-run: must be above 0 where gpus_per_run is 0"),
    (lambda repo: _commit(repo, "lora:\n  r: 8\n"), [], "params.yaml: sweep: missing"),
    (lambda repo: _commit(repo, "lora:\n  r: 8\n" + SWEEP_YAML.replace("2\n", "-2\n")), [],
     "params.yaml: sweep.retries: must be in [0, 20], got -2."),
]


@pytest.mark.parametrize("change, args, said", REFUSED, ids=[r[2][:30] for r in REFUSED])
def test_a_sweep_that_cannot_run_everywhere_is_refused_before_any_run(tmp_path, monkeypatch, change, args, said):
    repo = small_repo(tmp_path)
    if change:
        change(repo)
    monkeypatch.chdir(repo)
    with pytest.raises(UserError, match=re.escape(said)):
        raysweep.main(["--address", "127.0.0.1:1", "-S", "lora.r=4,8", *args])


@pytest.mark.parametrize("storage, said", [("../../dialogsum-dvc-storage", "is the relative folder"),
                                           (None, "no default DVC remote")])
def test_a_dvc_remote_the_machines_cannot_share_is_refused(tmp_path, monkeypatch, storage, said):
    monkeypatch.chdir(small_repo(tmp_path, storage))
    with pytest.raises(UserError, match=said):
        raysweep.main(["--address", "127.0.0.1:1", "-S", "lora.r=4"])


def test_the_grid_is_dvcs_and_a_hostile_value_stays_one_value(tmp_path):
    runs = grid.expand(["lora.r=4,8", "lora.alpha=range(16,48,16)", hostile_setting()])
    assert [r[:2] for r in runs] == [["lora.r=4", "lora.alpha=16"], ["lora.r=4", "lora.alpha=32"],
                                     ["lora.r=8", "lora.alpha=16"], ["lora.r=8", "lora.alpha=32"]]
    params = grid.planned_params(grid.read_params("lora:\n  r: 8\n  alpha: 8\nrecord:\n  note: ''\n"), runs[3])
    assert params == {"lora": {"r": 8, "alpha": 32}, "record": {"note": HOSTILE}}
    names = [grid.name("ray", r) for r in runs]
    assert len(set(names)) == 4 and all(re.fullmatch(r"ray-[0-9a-f]{10}", n) for n in names)
    assert grid.name("ray", list(reversed(runs[0]))) == names[0]  # the order of the -S options is no difference
    point = {"commit": "c" * 40, "git_url": "/origin", "identity": None}
    known = [{"name": "by-hand", "params": {"lora.r": 4, "lora.alpha": 16, "record.note": HOSTILE}, "score": 0.3}]
    base = grid.read_params("lora:\n  r: 8\n  alpha: 8\nrecord:\n  note: ''\n")
    planned = sweepplan.plan(["lora.r=4,8,4", "lora.alpha=16", hostile_setting()], "ray", point, base)
    sweepplan.skip_known(planned, known)
    assert [(r["status"], r["label"]) for r in planned] == [("skipped", "lora.r=4"), ("queued", "lora.r=8")]
    assert planned[0]["existing"] == "by-hand" and planned[1]["spec"]["settings"][2] == hostile_setting()
    with pytest.raises(UserError, match="with other params already exists"):
        sweepplan.skip_known(sweepplan.plan(["lora.r=8"], "ray", point, base),
                            [{"name": grid.name("ray", ["lora.r=8"]), "params": {}}])


def test_a_run_the_stages_would_refuse_is_refused_before_the_cluster_runs_it():
    point = {"commit": "c" * 40, "git_url": "/origin", "identity": None}
    base = grid.read_params((ROOT / "params.yaml").read_text())
    assert len(sweepplan.plan(["lora.r=4,8"], "ray", point, base)) == 2
    with pytest.raises(UserError, match=re.escape("the run with lora.r=0 would stop at once: params.yaml: lora.r: "
                                                  "must be")):
        sweepplan.plan(["lora.r=8,0"], "ray", point, base)
