"""Which base model a LoRA adapter belongs to, so that it is never applied to another one.

An adapter is a small update to particular weights. peft only checks that shapes fit, and its
adapter_config.json names the base as the folder it was loaded from (models/base), so an adapter trained on
flan-t5-base loads silently onto any model of the same shape (t5-base, another fine-tune) and produces
summaries of neither. train_lora therefore writes base_model.json beside the adapter: the Hub id, revision and
commit prepare resolved (data/sources.json) and the sha256 of the base model's weight files; loading compares
that hash with the base model's files and refuses a mismatch, naming both.
"""
import hashlib
import json
import sys
from pathlib import Path

from ..io.errors import UserError

FILE = "base_model.json"
SOURCES = Path("data/sources.json")  # what prepare read (stages/data/sources.py)
_CHUNK = 1 << 20
_hashed: dict[tuple, dict] = {}  # one hash per file state in a process: several adapters share one base


def fingerprint(folder) -> dict:
    """{weights_sha256, weights_bytes} of the *.safetensors files in `folder`, in name order."""
    files = sorted(Path(folder).glob("*.safetensors"))
    state = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    key = (str(Path(folder).resolve()), state)
    if key not in _hashed:
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
        _hashed[key] = {"weights_sha256": digest.hexdigest(), "weights_bytes": sum(s for _, s, _ in state)}
    return _hashed[key]


def source(folder) -> dict:
    """What the base model is, as prepare recorded it for models/base: {name, revision, sha} ({name, local});
    for another folder, its path."""
    if Path(folder).resolve() != Path("models/base").resolve():
        return {"name": str(folder)}
    try:
        recorded = json.loads(SOURCES.read_text(encoding="utf-8")).get("model")
    except (OSError, ValueError, AttributeError):
        recorded = None
    return recorded if isinstance(recorded, dict) and recorded.get("name") else {"name": str(folder)}


def record(adapter_folder, base_folder) -> None:
    """Write base_model.json into the adapter folder being saved."""
    identity = {**source(base_folder), **fingerprint(base_folder)}
    (Path(adapter_folder) / FILE).write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")


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
