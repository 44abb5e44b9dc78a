"""Is the tokenizer real, and can it read this text? Checked by prepare before anything is tokenized.

A model folder without tokenizer files still "loads": transformers builds an empty T5 tokenizer that maps
almost every word to <unk>, and training then runs on noise. So a local model.name must hold the files a
tokenizer is made from, and sample dialogues must come out mostly as real tokens.
"""
import sys
from pathlib import Path

from . import tokens
from ..io.errors import UserError
from ..modeling.identity import BPE_FILES, TOKENIZER_FILES, has_tokenizer

SAMPLE = 50  # dialogues of the train split checked before tokenizing everything
# Shares of characters read as <unk> (stages/data/tokens.py unknown_chars), or of prompt tokens (warn_unknown).
# flan-t5's tokenizer leaves well under 0.1% of DialogSum's tokens unknown (a stray emoji or accented name).
# WARN: 1% unknown means whole words the model cannot see, usually a script outside the vocabulary.
# REFUSE: past 25%, at least one word in four of the input is blank to the model: that is a wrong or empty
# tokenizer, or data in another language, and training on it can only learn the answer without the question.
WARN = 0.01
REFUSE = 0.25


def check_files(name: str) -> None:
    """A local model folder must hold real tokenizer files (a Hub id is resolved by transformers)."""
    folder = Path(name).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"model.name {name} is a file; point it at the model's folder (config.json, "
                        "model.safetensors and the tokenizer files), or at a Hub id such as google/flan-t5-base.")
    if not folder.is_dir():
        if name.startswith((".", "/", "~")):
            raise UserError(f"model.name {name} is not a folder (no such directory); point it at the model's "
                            "folder, or at a Hub id such as google/flan-t5-base.")
        return
    if has_tokenizer(folder):
        return
    raise UserError(f"model.name {name} holds no tokenizer files (one of {', '.join(TOKENIZER_FILES)}, or "
                    f"{' + '.join(BPE_FILES)}); without them transformers builds an empty tokenizer that turns "
                    "almost every word into <unk>. Copy the tokenizer files published with the model into "
                    "that folder (e.g. `huggingface-cli download google/flan-t5-base --local-dir DIR`).")


def unknown_share(tokenizer, texts: list[str]) -> float:
    """Share of the characters of `texts` (spaces aside) that the tokenizer reads as <unk>."""
    if tokenizer.unk_token_id is None or not texts:
        return 0.0
    counts = tokens.unknown_chars(tokenizer, texts)
    total = sum(chars for _, chars in counts)
    return sum(unknown for unknown, _ in counts) / total if total else 0.0


def check_sample(name: str, tokenizer, dialogues: list[str]) -> float:
    """Refuse a tokenizer that reads the first SAMPLE dialogues mostly as <unk>."""
    share = unknown_share(tokenizer, dialogues[:SAMPLE])
    if share > REFUSE:
        raise UserError(f"the tokenizer of {name} turns {share:.0%} of the characters of the first "
                        f"{min(len(dialogues), SAMPLE)} train dialogues into <unk> (more than {REFUSE:.0%}): "
                        "it cannot read this data. Use the tokenizer published with the model, or a model "
                        "whose vocabulary covers the data's language and script.")
    return share


def warn_unknown(split: str, tokenizer, input_ids: list[list[int]]) -> float:
    """A warning with the share of <unk> in a tokenized split, when text outside the vocabulary is common."""
    unk = tokenizer.unk_token_id
    total = sum(len(row) for row in input_ids)
    if unk is None or not total:
        return 0.0
    share = sum(row.count(unk) for row in input_ids) / total
    if share > WARN:
        print(f"warning: {split}: {share:.1%} of prompt tokens are <unk>: some text is in a script or symbols "
              "the tokenizer cannot represent, and the model will not see it.", file=sys.stderr)
    return share


# What transformers writes into tokenizer_config.json about how the tokenizer was *loaded* (from a folder
# or the Hub cache, with HF_HUB_OFFLINE or not): not part of the tokenizer, and it would change the hash of
# models/base, rerunning everything downstream, between an online and an offline prepare.
LOAD_KEYS = ("local_files_only", "is_local", "name_or_path", "_commit_hash", "cache_dir", "revision", "token",
             "force_download", "proxies", "subfolder", "trust_remote_code")


def stable_config(folder) -> None:
    """Drop load-time keys from a saved tokenizer_config.json, so a snapshot is the same bytes anywhere."""
    import json

    path = Path(folder) / "tokenizer_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    kept = {key: value for key, value in config.items() if key not in LOAD_KEYS}
    if kept != config:
        path.write_text(json.dumps(kept, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
