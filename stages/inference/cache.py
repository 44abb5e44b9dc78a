"""Converted models, kept until what they were made from changes, and checked each time they are used.

A converted model lives in models/.engines/<name>-<compute type>-<key>/, where the key hashes the bytes of every
file of the source model (and adapter), the tokenizer's vocabulary, the compute type, and the versions of every
library that shapes the converted bytes (CTranslate2, transformers, torch, and peft, which merges an adapter) and
of this conversion. It is written into a temp folder with its MARKER (stages/io/files.py mark: each file's
sha256 and what it was made from) and renamed into place, so a failed or killed conversion leaves no
half-written model behind. Before each use every file is checked against its sha256: a converted model changed
since (a flipped byte, an edited vocabulary, a file added or removed) is converted again, with a note, never
used. When the weights of its sources change, the folders made from their old weights are removed: only folders
whose MARKER says this cache wrote them, never anything else."""
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from ..io import files, hashing
from ..io.errors import UserError, pull_hint
from ..io.files import atomic_path, mark
from ..io.jsonl import read_object
from ..io.proof import MARKER, unclaimed

ROOT = Path("models/.engines")
LEGACY = "engine.json"  # the record of conversions made before each file's sha256 was kept (FORMAT 1)
MADE_BY = "stages.inference: a CTranslate2 conversion, rebuilt when its sources change"
FORMAT = 2  # raise when the conversion writes something different from the same sources
LIBRARIES = ("ctranslate2", "transformers", "torch", "peft")  # what shapes the converted bytes; peft merges adapters


def versions() -> dict:
    """The installed version of each of LIBRARIES ("absent" for one that is not installed)."""
    from importlib import metadata

    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def weights_fingerprint(folders: list[Path], tokenizer) -> str:
    """A hash of every file in `folders` (stages/io/hashing.py folder) and of the tokenizer's vocabulary."""
    total = hashlib.sha256()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder} does not exist: run `dvc repro` (prepare writes models/base, train_full "
                            f"models/full, train_lora models/lora){pull_hint()}, or give a folder that holds a model.")
        total.update(f"{hashing.folder(folder)}\0".encode())
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


def _record(folder: Path, name: str = MARKER) -> dict | None:
    record = read_object(folder / name) or {}
    return record if MADE_BY in (record.get("written_by"), record.get("made_by")) else None


def damage(folder: Path, wanted: str) -> str | None:
    """Why the conversion in `folder` must not be used (absent, made from something else, changed since it was
    written); None when every file is exactly as the conversion wrote it."""
    if not folder.exists():
        return "absent"
    record = _record(folder)
    if record is None or record.get("key") != wanted:
        return f"its {MARKER} is missing or is not this conversion's"
    return unclaimed(folder)


def cached(name: str, folders: list[Path], tokenizer, compute_type: str, versions: dict, build,
           root: Path = ROOT) -> Path:
    """The folder of the converted model: reused when its key matches and every file is as written, else made
    by build(temp folder)."""
    weights = weights_fingerprint(folders, tokenizer)
    wanted = key(weights, compute_type, versions)
    target = Path(root) / f"{safe_name(name)}-{compute_type}-{wanted[:16]}"
    try:  # the one door: never into .git, .dvc or a pipeline output, as a link at models/.engines could lead
        files.target(target, "the converted model", True, "folder", proof=lambda folder: damage(folder, wanted))
    except UserError as error:
        raise UserError(f"{error} The CTranslate2 cache {root} must lead to a folder of its own: make it a plain "
                        "folder, or set generate.engine to torch.") from None
    why = damage(target, wanted)
    if why is None:
        return target
    if why != "absent":
        print(f"note: the converted model in {target} cannot be used ({why}); converting it again.",
              file=sys.stderr)
    sources = [str(Path(f).resolve()) for f in folders]
    with atomic_path(target) as tmp:
        build(tmp)
        mark(tmp, MADE_BY, name=name, sources=sources, weights=weights, compute_type=compute_type,
             versions=versions, format=FORMAT, key=wanted)
    remove_stale(Path(root), sources, weights)
    return target


def remove_stale(root: Path, sources: list[str], weights: str) -> list[Path]:
    """Remove the conversions of these same sources made from other weights (and in an older format); leave
    everything else."""
    removed = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.is_symlink():
            continue
        record, legacy = _record(folder), _record(folder, LEGACY)
        if (record and record.get("sources") == sources and record.get("weights") != weights) or \
                (record is None and legacy and legacy.get("sources") == sources):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    try:
        files.remove_stale(root)  # conversions killed midway, whatever their name
    except OSError:
        pass  # one that cannot be removed is tried again next time
    return removed
