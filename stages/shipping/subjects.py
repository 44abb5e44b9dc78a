"""What a card is about: the model published (its kind, repo and the Hub base model and data it claims), and the
values every section prints as the run's files hold them, with how much of the split was scored."""
from dataclasses import dataclass

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
