"""The folder that is published: weights (safetensors only), config, the tokenizer of models/base, README.md.

`python -m stages.publish --dry-run DIR` writes exactly this folder; a publish builds it in a temp folder and
uploads it. full: models/full as trained. adapter: models/lora with adapter_config.json naming the base model
by its Hub id and revision instead of the pipeline's models/base. merged: the adapter folded into the base in
fp32, as `python -m stages.summarize export` writes it.
"""
import json
import shutil
from pathlib import Path

from ..io.errors import UserError, pull_hint
from ..io.proof import unsigned
from . import signature, subjects

# stages/modeling/models.py's paths, named here so that publishing a full model or an adapter never imports torch
BASE, FULL, LORA = Path("models/base"), Path("models/full"), Path("models/lora")

MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model",
                   "added_tokens.json")
README = "README.md"
# Weights in a pickle (torch.save) run code when loaded: never published.
PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def is_ours(name: str) -> bool:
    """A file name this command writes (a sharded model's model-0000x-of-0000y.safetensors included)."""
    return (name in MODEL_FILES + ADAPTER_FILES + TOKENIZER_FILES + (README,)
            or (name.startswith("model-") and name.endswith(".safetensors")))


def _source(folder: Path, needed: str, stage: str) -> Path:
    if not (folder / needed).is_file():
        pickles = sorted(p.name for p in folder.glob("*") if p.suffix in PICKLED) if folder.is_dir() else []
        if pickles:
            raise UserError(f"{folder} holds {', '.join(pickles)} but no {needed}: only safetensors weights are "
                            "published (a pickle runs code when it is loaded). Rerun `dvc repro "
                            f"{stage}`, which writes safetensors.")
        raise UserError(f"{folder}/{needed} is missing: run `dvc repro {stage}`{pull_hint()}, then publish.")
    return folder


def _copy(names, source: Path, dest: Path) -> None:
    for name in names:
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)  # a copy, not a link into the DVC cache


def _tokenizer(dest: Path) -> None:
    """The tokenizer every stage used: models/base's (stages/modeling/models.py load_tokenizer)."""
    _source(BASE, "tokenizer_config.json", "prepare")
    _copy(TOKENIZER_FILES, BASE, dest)


def _full(dest: Path) -> None:
    source = _source(FULL, "config.json", "train_full")
    if not (source / "model.safetensors").is_file() and not (source / "model.safetensors.index.json").is_file():
        _source(source, "model.safetensors", "train_full")
    _copy(MODEL_FILES, source, dest)
    _copy(sorted(p.name for p in source.glob("model-*.safetensors")), source, dest)


def _adapter(dest: Path, base: subjects.HubRef) -> None:
    source = _source(LORA, "adapter_model.safetensors", "train_lora")
    _source(source, "adapter_config.json", "train_lora")
    config = json.loads((source / "adapter_config.json").read_text(encoding="utf-8"))
    # The pipeline's adapter names the local models/base; a downloaded adapter must name the Hub model.
    config["base_model_name_or_path"] = base.id
    config["revision"] = base.revision
    (dest / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _copy(("adapter_model.safetensors",), source, dest)


def _merged(dest: Path) -> None:
    from ..modeling import models

    _source(LORA, "adapter_model.safetensors", "train_lora")
    models.load_merged(LORA).save_pretrained(dest)  # safetensors


def write(dest: Path, kind: str, base: subjects.HubRef, readme: str) -> None:
    """Fill the empty folder `dest` with what is published for `kind` (full, adapter or merged)."""
    {"full": _full, "adapter": lambda d: _adapter(d, base), "merged": _merged}[kind](dest)
    _tokenizer(dest)
    (dest / README).write_text(readme, encoding="utf-8")
    stray = sorted(p.name for p in dest.iterdir() if not is_ours(p.name) or p.suffix in PICKLED or p.is_dir())
    if stray:  # e.g. a library that starts saving another file: it is looked at before it is published
        raise UserError(f"the folder to publish would hold {', '.join(stray)}, which this command does not know; "
                        "nothing was published. Report this, with the versions of transformers and peft.")


def files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file())


def not_written_here(folder: Path) -> str | None:
    """Why replacing `folder` could lose something of the user's; None when it holds only what this command wrote
    there, each file as written (the record beside it, files.sign_folder), and its card unedited. A file of ours by
    name alone may be the user's own (a config.json edited by hand)."""
    folder = Path(folder)
    why = unsigned(folder)
    if why:
        return why
    stray = sorted(p.name for p in folder.iterdir() if not p.is_file() or not is_ours(p.name))
    if stray:
        return f"{stray[0]} is no file this command writes"
    try:
        text = (folder / README).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return f"{README} does not read as text"
    if signature.state(text) != "generated" or signature.notes(text):
        return f"{README} was edited by hand"
    return None
