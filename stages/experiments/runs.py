"""Runs as DVC lists them: the states in `dvc exp show --json`, their flat params, and the few metrics
the comparison tools read. Every metrics key path those tools use is in `metrics()`, in one place."""
import json
import math
import subprocess
import sys

from ..reporting import report
from ..scoring import rouge
from ..reporting.report import PRIMARY  # the scoring mode metrics/rouge.json holds
from ..io import jsonl
from ..io.errors import UserError

COSTS = ("trainable_params", "train_runtime_s", "peak_memory_bytes")  # what the sweep weighs ROUGE against


def flat_params(tree: dict, prefix: str = "") -> dict:
    """{"lora.r": 8, ...} from nested params; dvc.api.params_show's per-file layer is dropped when present."""
    if tree and all(isinstance(k, str) and k.endswith((".yaml", ".yml", ".json", ".toml", ".py")) for k in tree):
        merged = {}
        for part in tree.values():
            merged.update(part.get("data", part) if isinstance(part, dict) else {})
        tree = merged
    out = {}
    for key, value in (tree or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, name + "."))
        else:
            out[name] = json.dumps(value) if isinstance(value, list) else value  # hashable, comparable
    return out


def _dict(value) -> dict:
    """`value` where it is a JSON object, else {}: a saved file may hold anything where DVC writes objects."""
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def states(entries):
    """Every experiment state in the JSON, depth first: commits, their experiments, and theirs."""
    for entry in _list(entries):
        if isinstance(entry, dict):
            yield entry
            for group in _list(entry.get("experiments")):
                yield from states(_dict(group).get("revs"))


def data(state) -> dict:
    return _dict(state.get("data"))


def _file(state, kind, path):
    return _dict(_dict(data(state).get(kind)).get(path)).get("data")


def params(state) -> dict:
    return flat_params(_dict(_file(state, "params", "params.yaml")))


def code(state) -> dict:
    """{"code <path>": first 8 hex digits of its hash} for each .py dep the run ran."""
    return {f"code {path}": str(_dict(dep).get("hash") or "")[:8]
            for path, dep in _dict(data(state).get("deps")).items() if path.endswith(".py")}


def metrics(state, model: str, mode: str) -> dict:
    """ROUGE (with its interval where recorded) and costs of one model, or KeyError naming what is missing.

    The only metrics keys the sweep reads:
      metrics/rouge.json       <model>.<rouge1|rouge2|rougeL|rougeLsum> (the primary mode; the lean layout), or
                               <model>.<mode>.<key> with <key>_low/_high (runs made before it)
      metrics/efficiency.json  <model>.<trainable_params|train_runtime_s|peak_memory_bytes>, or, in runs made
                               before it, the same keys in metrics/train_<model>.json
    """
    scores = _dict(_dict(_file(state, "metrics", str(report.ROUGE))).get(model))
    if isinstance(scores.get(mode), dict):
        scores = scores[mode]
    elif mode != PRIMARY and all(key in scores for key in rouge.KEYS):
        raise KeyError(f"{report.ROUGE} holds only {model}'s {PRIMARY} scores, not {mode}")
    if not all(finite(scores.get(key)) for key in rouge.KEYS):
        raise KeyError(f"{report.ROUGE} {model}")
    out = {key: scores[key] for key in rouge.KEYS}
    out.update({f"{key}_{end}": scores.get(f"{key}_{end}") if finite(scores.get(f"{key}_{end}")) else None
                for key in rouge.KEYS for end in ("low", "high")})
    costs = _dict(_dict(_file(state, "metrics", str(report.EFFICIENCY))).get(model)) \
        or _dict(_file(state, "metrics", f"metrics/train_{model}.json"))
    out.update({key: costs.get(key) if finite(costs.get(key)) else None for key in COSTS})
    return out


CHART_LIMIT = 1e300  # beyond it a chart's axis arithmetic overflows (matplotlib's ticks fail for -1e308..1e308)


def finite(value) -> bool:
    """A number a chart can place: not a bool, NaN or infinity (JSON from elsewhere may hold them), nor a number
    beyond CHART_LIMIT (an integer beyond a float's range included)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and abs(value) <= CHART_LIMIT
    except OverflowError:
        return False


def baselines() -> list[str]:
    """Every commit an experiment was made from. `dvc exp show` alone lists only HEAD's experiments, so once
    anything is committed the experiments made before are out of its view, though `dvc exp list -A` has them."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from scmrepo.exceptions import SCMError

    try:
        with Repo(".") as repo:
            return sorted(repo.experiments.ls(all_commits=True))
    except (DvcException, SCMError) as error:
        raise UserError(f"cannot list the experiments here ({type(error).__name__}: {error}); run this from "
                        "the project's folder, or pass a saved `dvc exp show --json` with --json.") from None


def exp_show(flags: list[str] = ()) -> list[dict]:
    """`dvc exp show --json` with `flags` (such as -A) passed through."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json", *flags]
    shown = " ".join(["dvc", *command[3:]])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise UserError(f"`{shown}` took over 10 minutes; save its output and pass it with --json.") from None
    if done.returncode != 0:
        raise UserError(f"`{shown}` failed: {done.stderr.strip()[-800:]}")
    return parse(done.stdout, shown)


def parse(text: str | bytes, source: str) -> list[dict]:
    """The list `dvc exp show --json` prints. Bytes are decoded as JSON's own rule says (UTF-8, -16 or -32, a
    byte-order mark or not): PowerShell's `>` saves UTF-16."""
    if isinstance(text, bytes):
        try:
            text = text.decode(json.detect_encoding(text))
        except UnicodeDecodeError as error:
            raise UserError(f"{source}: not UTF-8, UTF-16 or UTF-32 text ({error.reason} at byte {error.start}); "
                            "save the output of `dvc exp show --json` as UTF-8.") from None
    try:
        value = jsonl.loads(text)  # the one reader of JSON a user gives (deep nesting, huge numbers, a key twice)
    except jsonl.BadJSON as error:
        raise UserError(f"{source}: {error}; save the output of `dvc exp show --json`.") from None
    if not isinstance(value, list):
        raise UserError(f"{source}: expected the list `dvc exp show --json` prints, got {type(value).__name__}.")
    for number, entry in enumerate(value, start=1):
        if not isinstance(entry, dict) or "rev" not in entry:
            raise UserError(f"{source}: item {number} of the list is {json.dumps(entry)[:60]}, not a run as "
                            "`dvc exp show --json` prints it (an object with a \"rev\"); save that command's output.")
    return value
