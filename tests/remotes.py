"""The round trip every remote must pass: push once, then pull, `repro --pull` and experiments in fresh clones."""
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

from project import env, run

EXPERIMENT = "lora-r4"  # made by the trained_with_experiment fixture with -S lora.r=4
CACHED_OUTS = ["data/prepared", "models/base", "models/full", "models/lora", "data/predictions"]


def digests(repo: Path, outs=CACHED_OUTS) -> dict[str, str]:
    """sha256 of every file under the given outputs, by path relative to the repo."""
    found = {}
    for out in outs:
        path = repo / out
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file():
                found[str(file.relative_to(repo))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def clone(source: Path, dest: Path) -> Path:
    run(["git", "clone", "-q", str(source), str(dest)], dest.parent)
    return dest


def use_remote(repo: Path, name: str, url: str, default: bool = True, **options) -> None:
    """Add remote `name` to this copy only (.dvc/config.local, never committed), as a user with credentials
    would with `dvc remote add --local` + `dvc remote modify --local`; written directly to save CLI starts."""
    from configobj import ConfigObj  # what DVC itself reads and writes its config with
    config = ConfigObj(str(repo / ".dvc" / "config.local"))
    config[f'remote "{name}"'] = {"url": url, **{key: str(value) for key, value in options.items()}}
    if default:
        config.setdefault("core", {})["remote"] = name
    config.write()


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def timed(args, cwd, timeout=300, **extra_env):
    """Run a command that may fail; return it and its wall time in seconds."""
    start = time.monotonic()
    done = subprocess.run(args, cwd=cwd, env={**env(), **extra_env}, capture_output=True, text=True,
                          timeout=timeout)
    return done, time.monotonic() - start


def push_everything(trained: Path, remote: str) -> None:
    """What a trainer publishes: outputs and run-cache of main, then the experiment (git refs + its outputs)."""
    run(["dvc", "push", "--run-cache", "-r", remote], trained)
    run(["dvc", "exp", "push", "--force", "-r", remote, "origin", EXPERIMENT], trained)


def check_pull(trained: Path, repo: Path) -> None:
    """`dvc pull` gives every output byte for byte; nothing is left to run; the metrics are the trainer's."""
    run(["dvc", "pull"], repo)
    assert digests(repo) == digests(trained)
    assert "up to date" in run(["dvc", "status"], repo).stdout
    repro = run(["dvc", "repro"], repo)
    assert stages_run(repro.stdout) == [], repro.stdout
    metrics = [json.loads(run(["dvc", "metrics", "show", "--json"], path).stdout) for path in (trained, repo)]
    assert metrics[0][""]["data"] == metrics[1][""]["data"]


def check_repro_pull(trained: Path, repo: Path) -> None:
    """`dvc repro --pull` fetches what the stages need and trains nothing."""
    repro = run(["dvc", "repro", "--pull"], repo)
    assert stages_run(repro.stdout) == [], repro.stdout
    # dvc.lock matches, so each stage's outputs are pulled as recorded ("Pulling data for stage: ...").
    assert "Pulling data for stage: 'train_full'" in repro.stdout, repro.stdout
    assert digests(repo) == digests(trained)
    assert "up to date" in run(["dvc", "status"], repo).stdout


def experiment_params(shown: list, name: str):
    """lora params of experiment `name` in `dvc exp show --json` output (None if it is not listed)."""
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name") == name:
                    return rev["data"]["params"]["params.yaml"]["data"]["lora"]
    return None


def check_experiment(trained: Path, repo: Path) -> None:
    """`dvc exp pull` brings the experiment's refs and outputs: it is listed, applies, and is up to date."""
    assert experiment_params(json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout), EXPERIMENT) is None
    run(["dvc", "exp", "pull", "origin", EXPERIMENT], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    assert experiment_params(shown, EXPERIMENT)["r"] == 4
    run(["dvc", "exp", "apply", EXPERIMENT], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout  # its outputs came from the remote
    assert digests(repo, ["models/lora"]) != digests(trained, ["models/lora"])  # r=4, not main's r=8


def cache_intact(repo: Path) -> int:
    """Every object in the local cache still hashes to its name; returns how many were checked."""
    objects = [p for p in (repo / ".dvc" / "cache" / "files" / "md5").rglob("*") if p.is_file()]
    for obj in objects:
        name = obj.parent.name + obj.name.removesuffix(".dir")
        assert hashlib.md5(obj.read_bytes()).hexdigest() == name, f"corrupted cache object {obj}"
    return len(objects)


def data_repo(repo: Path, files: int, size: int) -> Path:
    """A committed git + DVC repo tracking `files` random files of `size` bytes in blob/ (no pipeline)."""
    (repo / "blob").mkdir(parents=True)
    for i in range(files):
        (repo / "blob" / f"part-{i:03d}").write_bytes(os.urandom(size))
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "add", "-q", "blob"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "blob"], repo)
    return repo


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
