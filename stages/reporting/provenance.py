"""Where a result comes from, for the first lines of the report and the summaries page: the git commit (or the
DVC experiment and the commit it was made from), the params that differ from that commit's params.yaml, the
machine the summaries were generated on, and the date.

Only the report and the page carry it, never the DVC metrics, so `dvc metrics diff` between two identical runs
stays empty. It is read tolerantly: outside git, or with git missing, the report says "unknown" and goes on."""
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..experiments.runs import flat_params
from ..io.jsonl import read_object

# Set by `dvc exp run` (also --temp and queued runs) for every stage it runs: dvc/repo/experiments/queue/base.py.
EXPERIMENT = "DVC_EXP_NAME"
BASELINE = "DVC_EXP_BASELINE_REV"
CODE = ("stages", "dvc.yaml")  # uncommitted changes here mean the commit alone does not reproduce the run


def _git(*args) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def params_changed(commit: str, path: Path = Path("params.yaml")) -> dict[str, list] | None:
    """{flat key: [value at `commit`, value now]} for each params.yaml key that differs; None if either is
    unreadable."""
    committed = _git("show", f"{commit}:./{path.as_posix()}")  # ./: from here, also in a `dvc init --subdir` project
    try:
        before = flat_params(yaml.safe_load(committed) or {}) if committed is not None else None
        now = flat_params(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    if before is None:
        return None
    return {key: [before.get(key), now.get(key)] for key in sorted(set(before) | set(now))
            if before.get(key) != now.get(key)}


def machines(models, metrics=Path("metrics")) -> dict[str, str]:
    """{model: the machine its summaries were generated on} from metrics/generate_<model>.json: the GPU's name
    where it ran on a GPU, else the CPU model; models whose file records none are left out."""
    out = {}
    for model in models:
        record = read_object(Path(metrics) / f"generate_{model}.json") or {}
        if record.get("gpu") or record.get("cpu_model"):
            out[model] = str(record.get("gpu") or record.get("cpu_model"))
    return out


def collect(models, now: datetime | None = None) -> dict:
    """This run's provenance as plain values (see the module's docstring)."""
    experiment = os.environ.get(EXPERIMENT) or None
    commit = os.environ.get(BASELINE) if experiment else None
    commit = commit or (_git("rev-parse", "HEAD") or "").strip() or None
    dirty = _git("status", "--porcelain", "--", *CODE) if commit else None
    return {"commit": commit, "experiment": experiment,
            "params_changed": params_changed(commit) if commit else None,
            "code_changed": bool(dirty.strip()) if dirty is not None else None,
            "machines": machines(models),
            "date": (now or _now()).strftime("%Y-%m-%d %H:%M UTC")}


def _now() -> datetime:
    """Now, or SOURCE_DATE_EPOCH where set: the reproducible-builds convention for byte-identical outputs."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if fixed.isdigit():
        return datetime.fromtimestamp(int(fixed), timezone.utc)
    return datetime.now(timezone.utc)


def lines(run: dict) -> list[str]:
    """The provenance in words, one line each, plain text."""
    commit = run.get("commit")
    if run.get("experiment"):
        head = f"Run: DVC experiment {run['experiment']}, made from git commit {(commit or 'unknown')[:12]}."
    elif commit:
        head = f"Run: git commit {commit[:12]}."
    else:
        head = "Run: git commit unknown (not a git repository with a commit)."
    if run.get("code_changed"):
        head += " The code (stages/, dvc.yaml) had uncommitted changes: the commit alone does not reproduce it."
    changed = run.get("params_changed")
    if changed is None:
        params = "Params: unknown whether they differ from the commit's params.yaml."
    elif changed:
        params = "Params that differ from the commit's params.yaml: " + "; ".join(
            f"{key} {before!r} -> {after!r}" for key, (before, after) in changed.items()) + "."
    else:
        params = "Params: as in the commit's params.yaml."
    found = run.get("machines") or {}
    if not found:
        machine = "Machine: not recorded (summaries generated before the generate stage recorded it)."
    elif len(set(found.values())) == 1:
        machine = f"Machine: summaries generated on {next(iter(found.values()))}."
    else:
        machine = "Machine: summaries generated on " + "; ".join(f"{m}: {name}" for m, name in found.items()) + "."
    return [head, params, machine, f"Date: {run['date']} (this evaluation)."]
