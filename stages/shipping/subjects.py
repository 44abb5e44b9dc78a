"""What a card is about: the model published (its kind, repo and the Hub base model and data it claims), and the
values every section prints as the run's files hold them, with how much of the split was scored."""
from dataclasses import dataclass
from pathlib import Path

from .licence import data_name
from .record import Record, split_dialogues

METRICS_OF = {"full": "full", "adapter": "lora", "merged": "lora"}  # kind published -> whose scores


@dataclass(frozen=True)
class HubRef:
    id: str | None  # None: on no Hub (a base model built from random weights; data of one's own: --dataset none)
    revision: str | None
    declared: bool  # the run read a local copy; the Hub id is the publisher's word (--base-model / --dataset)
    verified: bool = False  # a declared base model whose files a publish found in that Hub commit (claim.py)


@dataclass(frozen=True)
class Subject:
    kind: str  # "full", "adapter" or "merged"
    repo_id: str
    base: HubRef
    dataset: HubRef
    model_type: str = "t5"  # the base model's config.json model_type: a causal LM's is llama or qwen2
    chat: str | None = None  # a causal LM's prompts: "template" (its chat template), "dated" (one that writes a
    # date, given the fixed one), None (the prompt text alone)

    @property
    def causal(self) -> bool:
        from ..modeling.family import CAUSAL_TYPES

        return self.model_type in CAUSAL_TYPES


def model_of_run(setting: str, base: Path = Path("models/base")) -> dict:
    """Subject's model_type and chat for the run's base model (models/base, as prepare wrote it), read from its
    files without loading anything: {} where there is no such folder."""
    import json

    from ..modeling.family import CAUSAL_TYPES

    config = base / "config.json"
    if not config.is_file():
        return {}
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type") or "t5"
    if model_type not in CAUSAL_TYPES or setting == "off":
        return {"model_type": model_type}
    text = ""  # the chat template: transformers 5 saves it as chat_template.jinja, older ones in tokenizer_config
    if (base / "chat_template.jinja").is_file():
        text = (base / "chat_template.jinja").read_text(encoding="utf-8")
    elif (base / "tokenizer_config.json").is_file():
        text = str(json.loads((base / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template") or "")
    chat = None if not text else "dated" if "date_string" in text else "template"
    return {"model_type": model_type, "chat": chat}


def num(value) -> str:
    """A value as its file holds it: the card adds no rounding of its own."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)


def sample(record: Record, model: str) -> str:
    """How much of the split was scored: '100 of 500 dialogues', 'all 500 dialogues', or '100 dialogues' where
    prepare did not record the split's size. Stated wherever a score is."""
    scored = record.generate[model]["dialogues"]
    total = split_dialogues(record.sources, record.params.generate.split)
    if total is None:
        limit = getattr(record.params.data, f"max_{record.params.generate.split}_samples", None)
        return f"{num(scored)} dialogues" + (" (a subsample)" if limit is not None else "")
    return f"all {num(total)} dialogues" if scored >= total else f"{num(scored)} of {num(total)} dialogues"


def scored_on(record: Record, model: str) -> str:
    """The dataset the scores are on (data.name, as prepare recorded it), with the share of it: 'DialogSum test
    (100 of 500 dialogues)'."""
    return f"{data_name(record.sources)} {record.params.generate.split} ({sample(record, model)})"
