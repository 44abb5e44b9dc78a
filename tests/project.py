"""Copies of the project in temp git repos, with params pointed at the tiny fixtures, driven by the real CLIs."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["dvc.yaml", "params.yaml", "stages", ".dvcignore", ".gitignore"]
BIN = Path(sys.executable).parent  # dvc and python of the venv running the tests
DEFAULT_REMOTE = "storage"  # the remote .dvc/config names as default
GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}


def env() -> dict:
    return {**os.environ, **GIT_ENV, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "DVC_NO_ANALYTICS": "1", "PYTHONPATH": "",
            # One thread: on a shared CPU, OpenMP threads spin against each other (a tiny step goes from 0.08 s
            # to seconds), and a fixed thread count keeps float sums in one order (identical runs).
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(args, cwd, check=True, timeout=600) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output, since that is what explains a red test."""
    done = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {done.returncode}\n"
                             f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}")
    return done


def tiny_params(model_dir: Path, corpus_dir: Path) -> dict:
    """The repo's params.yaml, pointed at the fixtures and shrunk to a few seconds of CPU work per stage."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["name"] = str(model_dir)
    params["data"]["source"] = str(corpus_dir)
    for stage, lr in (("train_full", 3e-3), ("train_lora", 1e-2)):
        params[stage].update(learning_rate=lr, max_steps=30, batch_size=4, eval_batch_size=8,
                             logging_steps=5, eval_steps=15, save_steps=15,
                             # validation ROUGE of a 30-step tiny model is 0 at every evaluation: a tie that
                             # would keep step 15; the loss still falls, so it picks a model that learned
                             select_metric="eval_loss")
    params["lora"]["r"] = 8
    params["generate"].update(max_new_tokens=16, batch_size=4)
    # `auto` is bf16 on CPUs with native bf16 (avx512_bf16, amx_bf16): the tests' numbers must not depend on
    # which CPU runs them. bf16 on the CPU is tested on its own (tests/modeling/test_hardware.py).
    for section in ("train_full", "train_lora", "generate"):
        params[section]["precision"] = "fp32"
    return params


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def local_storage(repo: Path) -> Path:
    """Where a project copy's default remote points: beside the copy, never a shared folder."""
    return repo.parent / f"{repo.name}-dvc-storage"


def make_project(repo: Path, model_dir: Path, corpus_dir: Path, params: dict | None = None) -> Path:
    """A committed git + DVC repo holding a copy of the project, params pointed at the fixtures."""
    repo.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    write_params(repo, params or tiny_params(model_dir, corpus_dir))
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # cache type, default remote
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")  # the plot templates dvc.yaml names
    # The default remote is a folder beside the repo; keep each test's pushes in its own folder.
    run(["dvc", "remote", "modify", "--local", DEFAULT_REMOTE, "url", str(local_storage(repo))], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "project"], repo)
    return repo



def prepared_project(repo: Path, model_dir: Path, corpus_dir: Path, params: dict | None = None) -> Path:
    """make_project, then its prepare stage run: data/prepared and models/base, ready for a training stage."""
    make_project(repo, model_dir, corpus_dir, params)
    run(["python", "-m", "stages.prepare"], repo)
    return repo


def clone_of(repo: Path, dest: Path) -> Path:
    """A git clone of `repo` that shares its DVC cache, with the outputs checked out (links: no copies)."""
    run(["git", "clone", "-q", str(repo), str(dest)], dest.parent)
    run(["dvc", "config", "--local", "cache.dir", str(repo / ".dvc" / "cache")], dest)
    run(["dvc", "checkout", "-q"], dest)
    return dest


# What the clock and the allocator decide: never compared between two runs.
TIMINGS = {"train_runtime_s", "eval_runtime_s", "checkpoint_s", "train_wall_s", "train_samples_per_s",
           "train_tokens_per_s", "peak_memory_bytes", "peak_memory_reserved_bytes", "generate_s", "s_per_dialogue",
           "validation_generate_s_total", "validation_generate_s_mean", "load_average_1min"}


def throughput_agrees(metrics) -> bool:
    """train_tokens_per_s x train_runtime_s = train_tokens up to the rounding of the two recorded figures
    (tokens/s to 0.1, seconds to 0.001): a bound derived from that rounding, where a fixed relative tolerance
    fails on short runs."""
    rate, seconds, tokens = metrics["train_tokens_per_s"], metrics["train_runtime_s"], metrics["train_tokens"]
    return abs(rate * seconds - tokens) <= 0.05 * (seconds + 0.0005) + 0.0005 * (rate + 0.05) + 1e-9 * tokens


def without_timings(value):
    """Metrics minus TIMINGS, at any depth (efficiency.json nests per model)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    return value
