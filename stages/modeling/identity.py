"""Which base model a LoRA adapter belongs to, so that it is never applied to another one.

An adapter is a small update to particular weights. peft only checks that shapes fit, and its
adapter_config.json names the base as the folder it was loaded from (models/base), so an adapter trained on
flan-t5-base loads silently onto any model of the same shape (t5-base, another fine-tune) and produces
summaries of neither. train_lora therefore writes base_model.json beside the adapter: the Hub id, revision and
commit prepare resolved (data/sources.json) and the sha256 of the base model's weight files; loading compares
that hash with the base model's files and refuses a mismatch, naming both.

The record also holds the sha256 of the base's tokenizer files: an adapter folder holds no tokenizer, and the
base's is used for it only where that hash proves it is the one the adapter was trained with (models.py
own_tokenizer). Every other model is encoded with the tokenizer in its own folder.
"""
import json
import sys
from pathlib import Path

from ..io import hashing
from ..io.errors import UserError
from ..io.jsonl import read_object
from . import readme

FILE = "base_model.json"
SOURCES = Path("data/sources.json")  # what prepare read (stages/data/sources.py)
# The files a tokenizer is built from (tokenizers' JSON, a SentencePiece model, BPE's pair), and with the files
# that configure it, all that is hashed as "the tokenizer" of a folder.
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
BPE_FILES = ("vocab.json", "merges.txt")
CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def fingerprint(folder) -> dict:
    """{weights_sha256, weights_bytes} of the *.safetensors files in `folder`, in name order."""
    names = hashing.weights(folder)  # hashed once per process while unchanged: several adapters share one base
    return {"weights_sha256": hashing.digest(folder, names),
            "weights_bytes": sum((Path(folder) / name).stat().st_size for name in names)}


def has_tokenizer(folder) -> bool:
    """`folder` holds the files a tokenizer is made from (without them transformers builds an empty one)."""
    folder = Path(folder)
    return any((folder / f).is_file() for f in TOKENIZER_FILES) or all((folder / f).is_file() for f in BPE_FILES)


def tokenizer_fingerprint(folder) -> str:
    """sha256 of the tokenizer files in `folder` (names and bytes, in name order)."""
    names = [name for name in sorted(TOKENIZER_FILES + BPE_FILES + CONFIG_FILES) if (Path(folder) / name).is_file()]
    return hashing.digest(folder, names, lambda name, hex: name.encode() + b"\0" + bytes.fromhex(hex))


def source(folder) -> dict:
    """What the base model is, as prepare recorded it for models/base: {name, revision, sha} ({name, local});
    for another folder, its path."""
    if Path(folder).resolve() != Path("models/base").resolve():
        return {"name": str(folder)}
    recorded = (read_object(SOURCES) or {}).get("model")
    return recorded if isinstance(recorded, dict) and recorded.get("name") else {"name": str(folder)}


def record(adapter_folder, base_folder) -> dict:
    """Write base_model.json into the adapter folder being saved, and the folder's README.md from it (peft's
    save_pretrained writes a blank template there); returns what it recorded."""
    found = {key: value for key, value in source(base_folder).items() if key != "files"}  # prepare's per-file hashes
    identity = {**found, **fingerprint(base_folder)}
    if has_tokenizer(base_folder):
        identity["tokenizer_sha256"] = tokenizer_fingerprint(base_folder)
    (Path(adapter_folder) / FILE).write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    readme.write(adapter_folder, "adapter", identity)
    return identity


def recorded(adapter_folder) -> dict:
    """The adapter's base_model.json ({} where it has none or it does not read as an object)."""
    return read_object(Path(adapter_folder) / FILE) or {}


def _describe(identity: dict) -> str:
    where = identity.get("sha") or identity.get("revision")
    return (f"{identity.get('name')}{f' at {where[:12]}' if where else ''} (weights sha256 "
            f"{str(identity.get('weights_sha256'))[:12]}, {identity.get('weights_bytes')} bytes)")


def check(adapter_folder, base_folder) -> None:
    """Refuse to load the adapter in `adapter_folder` onto the weights in `base_folder` unless they are the ones
    it was trained on; an adapter without base_model.json (made elsewhere) is loaded with a warning."""
    path = Path(adapter_folder) / FILE
    if not path.is_file():
        print(f"warning: {adapter_folder} does not record its base model ({FILE}), so it cannot be checked "
              f"against {base_folder}: make sure it was trained on that model.", file=sys.stderr)
        return
    try:
        trained_on = json.loads(path.read_text(encoding="utf-8"))
        expected = trained_on["weights_sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise UserError(f"{path} is damaged (not JSON with weights_sha256): retrain the adapter "
                        "(`dvc repro train_lora`) or restore the file (`dvc checkout`).") from None
    if not Path(base_folder).is_dir() or not any(Path(base_folder).glob("*.safetensors")):
        return  # a base model not loaded from a folder of safetensors: nothing on disk to compare
    here = {**source(base_folder), **fingerprint(base_folder)}
    if here["weights_sha256"] != expected:
        raise UserError(f"the adapter in {adapter_folder} was trained on {_describe(trained_on)}, but the base "
                        f"model here, {base_folder}, is {_describe(here)}: other weights, so the adapter would "
                        "change the wrong model. Load it onto the base model it was trained on, or retrain it on "
                        "this one (`dvc repro train_lora`).")


def check_tokenizer(adapter_folder, base_folder) -> None:
    """Refuse to encode for the adapter in `adapter_folder` (which holds no tokenizer) with the tokenizer in
    `base_folder` unless its record proves that is the tokenizer it was trained with."""
    path = Path(adapter_folder) / FILE
    copy = (f"copy the tokenizer files it was trained with (tokenizer.json, tokenizer_config.json, "
            f"special_tokens_map.json, or spiece.model) into {adapter_folder}, or retrain it "
            "(`dvc repro train_lora`), which records them")
    if not path.is_file():
        raise UserError(f"{adapter_folder} holds no tokenizer and does not record which one it was trained with "
                        f"({FILE}), so {base_folder}'s cannot be assumed to fit: {copy}.")
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("tokenizer_sha256")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        raise UserError(f"{path} is damaged (not JSON): retrain the adapter (`dvc repro train_lora`) or restore "
                        "the file (`dvc checkout`).") from None
    if not isinstance(recorded, str):
        raise UserError(f"{path} records its base model's weights but not its tokenizer (written by an older "
                        f"version of train_lora), so {base_folder}'s cannot be assumed to fit: {copy}.")
    here = tokenizer_fingerprint(base_folder) if has_tokenizer(base_folder) else None
    if here != recorded:
        found = f"has tokenizer files of sha256 {here[:12]}" if here else "holds no tokenizer files"
        raise UserError(f"the adapter in {adapter_folder} was trained with a tokenizer of sha256 {recorded[:12]}, "
                        f"but {base_folder} {found}: its token ids would mean other words to it. Restore that "
                        f"folder (`dvc checkout`), or {copy}.")
