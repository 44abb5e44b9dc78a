"""What a finished run recorded, read from its own files only: params.yaml, the metrics the stages wrote,
dvc.lock, data/sources.json and the git commit. The card is built from this and nothing typed by hand."""
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..io import params
from ..io.errors import UserError

METRICS = Path("metrics")
SOURCES = Path("data/sources.json")
LOCK = Path("dvc.lock")
MODELS = ("base", "full", "lora")


@dataclass(frozen=True)
class Record:
    params: params.Params
    rouge: dict      # metrics/rouge.json: {model: {rouge1, ...}} in the primary scoring mode
    detail: dict     # metrics/rouge_detail.json: {model: {mode: {rouge1, rouge1_low, rouge1_high, ...}}}
    paired: dict     # metrics/rouge_paired.json: {"a_vs_b": {mode: {rouge1_diff, _low, _high, _p, ...}}}
    costs: dict      # metrics/efficiency_detail.json: {model: {...}}
    train: dict      # {"full": metrics/train_full.json, "lora": metrics/train_lora.json}
    generate: dict   # {"base"|"full"|"lora": metrics/generate_<model>.json}
    sources: dict    # data/sources.json: the Hub commits (or local folders) prepare read
    lock: dict       # dvc.lock
    commit: str      # git HEAD, which holds all of the above
    dirty: bool      # other tracked files differ from HEAD


def _json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path} is missing: run `dvc repro` so the stage that writes it runs, commit the run, "
                        "then publish.")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not valid JSON ({error}); rerun the stage that writes it (`dvc repro`).") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} holds {type(value).__name__}, not the object its stage writes; rerun `dvc repro`.")
    return value


def decoded_with(generate: dict) -> tuple[str, str]:
    """(engine, number format) of a metrics/generate_<model>.json: torch and its precision (bf16 or fp32), or
    ctranslate2 and its compute type (int8, float32, ...). A KeyError where the file lacks them."""
    engine = generate.get("engine", "torch")  # written before there was a choice of engine
    return engine, generate["compute_type" if engine == "ctranslate2" else "precision"]


def built(sources: dict) -> dict | None:
    """What stages/scratch recorded of a base model it built from random weights ({weights, parameters, seed}, as
    prepare carried it to data/sources.json), or None for any other base model."""
    found = (sources.get("model") or {}).get("built") if isinstance(sources.get("model"), dict) else None
    if found is None:
        return None
    if (not isinstance(found, dict) or found.get("weights") != "random" or type(found.get("parameters")) is not int
            or found["parameters"] <= 0 or type(found.get("seed")) is not int):
        raise UserError("data/sources.json's model.built is not what prepare writes (weights random, parameters, "
                        "seed): rerun `dvc repro prepare` (or `git checkout data/sources.json`), then publish.")
    return found


def split_dialogues(sources: dict, split: str) -> int | None:
    """How many dialogues the split had before any subsample (prepare's record), None where it was not recorded."""
    found = sources.get("dialogues")
    value = found.get(split) if isinstance(found, dict) else None
    return value if type(value) is int and value > 0 else None


def lock_outs(lock: dict) -> dict[str, str]:
    """{output path: md5} for every output dvc.lock records (a folder's md5 ends in .dir)."""
    found = {}
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            found[out["path"]] = out.get("md5") or out.get("hash", "")
    return found


def read(commit: str, dirty: bool) -> Record:
    p = params.load()
    rouge = _json(METRICS / "rouge.json")
    detail = _json(METRICS / "rouge_detail.json")
    for model in MODELS:
        if model not in rouge or model not in detail:
            raise UserError(f"metrics/rouge.json or rouge_detail.json has no scores for {model}: rerun "
                            "`dvc repro evaluate`.")
    if not LOCK.is_file():
        raise UserError("dvc.lock is missing: run `dvc repro` first; the card cites the hashes it records.")
    try:
        lock = yaml.safe_load(LOCK.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise UserError(f"dvc.lock is not valid YAML ({str(error).splitlines()[0]}); restore it with "
                        "`git checkout dvc.lock`.") from None
    return Record(
        params=p, rouge=rouge, detail=detail, paired=_json(METRICS / "rouge_paired.json"),
        costs=_json(METRICS / "efficiency_detail.json"),
        train={model: _json(METRICS / f"train_{model}.json") for model in ("full", "lora")},
        generate={model: _json(METRICS / f"generate_{model}.json") for model in MODELS},
        sources=_json(SOURCES), lock=lock, commit=commit, dirty=dirty)
