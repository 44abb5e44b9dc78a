"""Converted models, kept until what they were made from changes.

A converted model lives in models/.engines/<name>-<compute type>-<key>/, where the key hashes the bytes of every
file of the source model (and adapter), the tokenizer's vocabulary, the compute type, and the versions of
CTranslate2, transformers and this conversion. It is written into a temp folder and renamed into place, so a
failed or killed conversion leaves no half-written model behind. Each holds an engine.json naming its sources;
when the weights of those sources change, the folders made from their old weights are removed: only folders
with that record, never anything else."""
import hashlib
import json
import re
import shutil
from pathlib import Path

from ..io.errors import UserError, pull_hint
from ..io.files import alive, atomic_path, write_json

ROOT = Path("models/.engines")
RECORD = "engine.json"
MADE_BY = "stages.inference: a CTranslate2 conversion, rebuilt when its sources change"
FORMAT = 1  # raise when the conversion writes something different from the same sources


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def weights_fingerprint(folders: list[Path], tokenizer) -> str:
    """A hash of every file in `folders` (names and bytes) and of the tokenizer's vocabulary."""
    total = hashlib.sha256()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder} does not exist: run `dvc repro` (prepare writes models/base, train_full "
                            f"models/full, train_lora models/lora){pull_hint()}, or give a folder that holds a model.")
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            total.update(f"{file.relative_to(folder).as_posix()}\0{_digest(file)}\0".encode())
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    specials = [tokenizer.pad_token, tokenizer.eos_token, tokenizer.unk_token]
    total.update(json.dumps([vocabulary, specials], ensure_ascii=False).encode())
    return total.hexdigest()


def key(weights: str, compute_type: str, versions: dict) -> str:
    text = json.dumps({"weights": weights, "compute_type": compute_type, "versions": versions, "format": FORMAT},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def _record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("made_by") == MADE_BY else None


def cached(name: str, folders: list[Path], tokenizer, compute_type: str, versions: dict, build,
           root: Path = ROOT) -> Path:
    """The folder of the converted model: reused when its key matches, else made by build(temp folder)."""
    weights = weights_fingerprint(folders, tokenizer)
    wanted = key(weights, compute_type, versions)
    target = Path(root) / f"{safe_name(name)}-{compute_type}-{wanted[:16]}"
    record = _record(target)
    if record is not None and record.get("key") == wanted and (target / "model.bin").is_file():
        return target
    sources = [str(Path(f).resolve()) for f in folders]
    with atomic_path(target) as tmp:
        build(tmp)
        write_json(tmp / RECORD, {"made_by": MADE_BY, "name": name, "sources": sources, "weights": weights,
                                  "compute_type": compute_type, "versions": versions, "format": FORMAT,
                                  "key": wanted})
    remove_stale(Path(root), sources, weights)
    return target


def remove_stale(root: Path, sources: list[str], weights: str) -> list[Path]:
    """Remove the conversions of these same sources made from other weights; leave everything else."""
    removed = []
    for folder in sorted(root.iterdir()):
        record = _record(folder) if folder.is_dir() and not folder.is_symlink() else None
        if record and record.get("sources") == sources and record.get("weights") != weights:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    for tmp in root.glob(".*.tmp-*"):  # conversions killed midway, whatever their name
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
    return removed

