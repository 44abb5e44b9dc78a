"""The README.md of a model folder this project saves outside publishing: an adapter (train_lora's models/lora,
which the registry hands out as it is) and a merged model (`python -m stages.summarize export`).

peft's save_pretrained writes a blank template card there ("More Information Needed"); `write` replaces it with
what the folder is and what its base model is, from the adapter's record of its base (identity.py), and says
where its scores are. `python -m stages.publish` writes the full card from a finished run."""
from pathlib import Path

import yaml

from ..io.text import code_span

NAME = "README.md"
LICENSE = "cc-by-nc-sa-4.0"  # DialogSum's licence, carried to what is trained on it (as the published card)


def base_text(trained_on: dict) -> str:
    """The base model as the adapter's record names it (base_model.json)."""
    built, name = trained_on.get("built"), str(trained_on.get("name", "an unrecorded model"))
    if isinstance(built, dict) and built.get("weights") == "random":
        return (f"a T5 of {built.get('parameters')} parameters built from random weights by stages/scratch (never "
                f"pretrained; the local folder {code_span(name)})")
    if trained_on.get("local") or "sha" not in trained_on and "revision" not in trained_on:
        return f"the local model folder {code_span(name)}"
    at = trained_on.get("sha") or trained_on.get("revision")
    return f"{code_span(name)} from the Hugging Face Hub" + (f" at commit {code_span(at)}" if at else "")


def _hub_id(trained_on: dict) -> str | None:
    if trained_on.get("local") or trained_on.get("built") or not (trained_on.get("sha") or trained_on.get("revision")):
        return None
    return str(trained_on.get("name"))


def text(kind: str, trained_on: dict, adapter: str | None = None) -> str:
    """The card of an "adapter" folder or a "merged" one (the adapter `adapter` folded into its base)."""
    meta = {"library_name": "peft" if kind == "adapter" else "transformers", "license": LICENSE,
            "pipeline_tag": "summarization", "tags": ["dialogue-summarization", "dialogsum", "lora"]}
    if _hub_id(trained_on):
        meta |= {"base_model": _hub_id(trained_on), "base_model_relation": "adapter" if kind == "adapter" else
                 "finetune"}
    weights = trained_on.get("weights_sha256")
    check = f" (weights sha256 {code_span(str(weights))})" if weights else ""
    if kind == "adapter":
        head = "# LoRA adapter for dialogue summarization"
        what = (f"A LoRA adapter for {base_text(trained_on)}{check}, trained on DialogSum by this project's "
                "`train_lora` stage. base_model.json beside it records that base model; the project refuses to "
                "apply the adapter to other weights. Summarize with it: `python -m stages.summarize --adapter "
                "<this folder> --input dialogue.txt`.")
    else:
        head = "# Dialogue summarizer: a LoRA adapter merged into its base model"
        what = (f"A standalone model (no peft needed): the LoRA adapter {code_span(str(adapter))} merged in fp32 "
                f"into its base model, {base_text(trained_on)}{check}: a fine-tune of that base model, written by "
                "`python -m stages.summarize export`.")
    return "\n".join([
        "---", yaml.safe_dump(meta, sort_keys=False).rstrip("\n"), "---", "", head, "", what, "",
        "This folder holds no scores: they are in metrics/report.md of the run that trained the adapter (the git "
        "commit whose dvc.lock names it), with intervals, the paired tests and the baselines every model must beat. "
        "`python -m stages.publish lora --dry-run DIR` writes the full model card from that run.", "",
        "Trained on DialogSum, licensed CC BY-NC-SA 4.0: use it for non-commercial purposes only, credit DialogSum, "
        "and share what you build from it under the same licence.", ""])


def write(folder, kind: str, trained_on: dict, adapter: str | None = None) -> None:
    """Replace the README.md of a saved adapter or merged model (peft's template) with the project's card."""
    (Path(folder) / NAME).write_text(text(kind, trained_on, adapter), encoding="utf-8")
