"""The artifacts dvc.yaml declares, and the meta of a registered version, read from the run's own files.

dvc.yaml is text on a commit, while ROUGE and the base model's commit change with every run: so the committed
meta holds only what never changes (`method`), and `python -m stages.register` fills in the rest from the files
of the run it registers, on the commit that the version tag points at. The meta names its version, so on a later
commit it still says which version it describes; `outs_md5` ties it to the bytes (dvc.lock's hash).
"""
import json
import re
from pathlib import Path

import yaml

from ..data.sources import SOURCES
from ..io.errors import UserError
from ..io.files import atomic_path
from ..io.jsonl import read_object

DVC_YAML = Path("dvc.yaml")
DVC_LOCK = Path("dvc.lock")
PARAMS = Path("params.yaml")
GENERATE = "metrics/generate_{}.json"  # the generate stage's record for a model: its engine and number type
TRAINED = {"models/full": "full", "models/lora": "lora"}  # artifact path -> the model's name in the metrics
# The params that make each model what it is (the rest are in params.yaml at the tagged commit).
TRAINING_KEYS = ("learning_rate", "epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "seed")


def check_name(name: str) -> None:
    """DVC's own rule for artifact names (GTO's regex), as one paragraph instead of a warning."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.repo.artifacts import check_name_format

    try:
        check_name_format(name)
    except InvalidArgumentError:
        raise UserError(f"{name!r} cannot be a DVC artifact name: DVC allows letters, digits, '-', '_' and '/' "
                        "only, starting and ending with a letter or digit, and `dvc artifacts get` finds no other "
                        "name. Use a name such as 'lora-r4', in dvc.yaml's artifacts section and here.") from None


def _artifacts() -> dict:
    """dvc.yaml's `artifacts:` section: {name: {path, type, ...}}; a UserError for a file that is no such YAML."""
    fix = "fix it (`git diff dvc.yaml` shows what changed, `git checkout dvc.yaml` undoes it), then register."
    try:
        loaded = yaml.safe_load(DVC_YAML.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"{DVC_YAML} cannot be read as YAML ({first[:200]}): {fix}") from None
    found = (loaded.get("artifacts") if isinstance(loaded, dict) else None) or {}
    if not isinstance(loaded, dict) or not isinstance(found, dict) or \
            not all(isinstance(key, str) and isinstance(value, dict) for key, value in found.items()):
        raise UserError(f"{DVC_YAML}'s `artifacts:` is not a mapping of names to entries such as `lora: {{path: "
                        f"models/lora, type: model}}`: {fix}")
    return found


def declared(name: str) -> dict:
    """The artifact `name` as dvc.yaml declares it, checked to be one of the trained models."""
    check_name(name)
    artifacts = _artifacts()
    if name not in artifacts:
        listed = ", ".join(sorted(artifacts)) or "none"
        raise UserError(f"dvc.yaml declares no artifact {name!r} (it declares: {listed}). Register one of those, "
                        "or declare it under `artifacts:` in dvc.yaml.")
    artifact = artifacts[name]
    if not isinstance(artifact.get("path"), str) or artifact["path"] not in TRAINED:
        raise UserError(f"artifact {name!r} has path {artifact.get('path')!r}; only the trained models "
                        f"({', '.join(TRAINED)}) have the metrics and sources its meta is made from.")
    return artifact


def locked_md5(lock_text: str, path: str) -> str | None:
    """The hash dvc.lock records for output `path`, or None."""
    for stage in ((yaml.safe_load(lock_text) or {}).get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == path:
                return out.get("md5")
    return None


def meta(artifact: dict, version: str) -> dict:
    """What the registered version is, from this run's params, sources, metrics and dvc.lock."""
    from ..reporting.report import PRIMARY, ROUGE  # the headline file and the scoring mode it holds

    path = artifact["path"]
    model = TRAINED[path]
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    sources = json.loads(SOURCES.read_text(encoding="utf-8"))
    rouge = json.loads(ROUGE.read_text(encoding="utf-8")).get(model)
    md5 = locked_md5(DVC_LOCK.read_text(encoding="utf-8"), path)
    generation = generated_with(model)
    if rouge is None or md5 is None or generation is None:
        raise UserError(f"{ROUGE}, {GENERATE.format(model)} or {DVC_LOCK} has nothing for {model}: run the whole "
                        "pipeline (`dvc repro`) and commit it before registering.")
    training = {key: params[f"train_{model}"][key] for key in TRAINING_KEYS}
    method_params = {"lora": params["lora"], f"train_{model}": training} if model == "lora" else \
        {f"train_{model}": training}
    return {
        "method": model,
        "version": version,
        "base_model": sources["model"]["name"],
        "base_commit": sources["model"].get("sha"),  # None: a local folder, which has no commit
        "dataset": sources["data"]["name"],
        "dataset_commit": sources["data"].get("sha"),
        "params": method_params,
        "rouge": rouge,
        "rouge_scoring": f"{PRIMARY} F-measure on the {params['generate']['split']} split ({ROUGE})",
        "generated_with": generation,  # the scored summaries' engine and number type: int8 scores differ
        "outs_md5": md5,
    }


def generated_with(model: str) -> dict | None:
    """How the scored summaries were made, as the generate stage recorded it: {engine, compute_type, precision,
    device}; precision is torch's (fp32, bf16), None for an engine that records none."""
    found = read_object(GENERATE.format(model))
    if found is None or not found.get("engine"):
        return None
    return {key: found.get(key) for key in ("engine", "compute_type", "precision", "device")}


def write_meta(name: str, values: dict) -> bool:
    """Set the artifact's meta in dvc.yaml, leaving every other line as it is; False when it is already so."""
    text = DVC_YAML.read_text(encoding="utf-8")
    before = yaml.safe_load(text)
    if before["artifacts"][name].get("meta") == values:
        return False
    edited = with_meta(text, name, values)
    expected = {**before, "artifacts": {**before["artifacts"], name: {**before["artifacts"][name], "meta": values}}}
    if edited is None or yaml.safe_load(edited) != expected:  # a layout the line edit does not know (flow style)
        raise UserError(f"could not rewrite artifacts.{name}.meta in dvc.yaml in place; write the artifact in block "
                        "style, as in the project's dvc.yaml (path, type, desc, labels, meta on their own lines).")
    with atomic_path(DVC_YAML) as tmp:
        tmp.write_text(edited, encoding="utf-8")
    return True


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the block that starts at line `start`: the next line of content indented `indent` or less."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            if _indent(lines[i]) <= indent:
                break
            end = i + 1
    return end


def with_meta(text: str, name: str, values: dict) -> str | None:
    """dvc.yaml's text with artifacts.NAME.meta replaced by (or given) `values`, every other line kept; None
    where the artifact is not written in block style."""
    lines = text.splitlines(keepends=True)

    def key(i: int, indent: int, word: str) -> bool:
        return _indent(lines[i]) == indent and re.fullmatch(rf"\s*{re.escape(word)}:\s*(#.*)?", lines[i].rstrip("\n"))

    def children(start: int, end: int) -> list[int]:
        return [i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]

    section = next((i for i in range(len(lines)) if key(i, 0, "artifacts")), None)
    entries = children(section, _block_end(lines, section, 0)) if section is not None else []
    entry = next((i for i in entries if key(i, _indent(lines[entries[0]]), name)), None)
    fields = children(entry, _block_end(lines, entry, _indent(lines[entry]))) if entry is not None else []
    if not fields:
        return None
    indent = _indent(lines[fields[0]])
    dumped = yaml.safe_dump({"meta": values}, sort_keys=False, default_flow_style=False, width=1000)
    block = [" " * indent + line + "\n" for line in dumped.splitlines()]
    meta = next((i for i in fields if _indent(lines[i]) == indent and lines[i].lstrip().startswith("meta:")), None)
    if meta is not None and not key(meta, indent, "meta"):  # `meta: {...}` on one line
        return None
    if meta is None:  # no meta yet: after the artifact's last field
        end = _block_end(lines, entry, _indent(lines[entry]))
        return "".join(lines[:end] + block + lines[end:])
    return "".join(lines[:meta] + block + lines[_block_end(lines, meta, indent):])
