"""Stage prepare: validate DialogSum, snapshot the base model, tokenize prompts into data/prepared."""
import datasets

from . import data, modeling, params
from .errors import ParamsError, run
from .files import atomic_path, wrote

VERY_LARGE = 1_000_000  # tokenizers with no declared limit report ~1e30


def check_lengths(p, tokenizer) -> None:
    limit = tokenizer.model_max_length
    for key in ("max_source_length", "max_target_length"):
        value = getattr(p.data, key)
        if limit < VERY_LARGE and value > limit:
            raise ParamsError(f"data.{key}", f"{value} is beyond the model's maximum of {limit} tokens.")


def main() -> None:
    p = params.load()
    raw = data.load_raw(p.data.source, p.data.revision)
    for split, rows in raw.items():
        data.validate(split, rows)

    # Every check before anything is written: a failed prepare leaves no output behind.
    tokenizer = modeling.load_tokenizer(p.model.name, p.model.revision)
    check_lengths(p, tokenizer)

    splits = {}
    for split, rows in raw.items():
        rows = data.subsample(rows, getattr(p.data, f"max_{split}_samples"), p.data.seed)
        splits[split] = data.tokenize(rows, tokenizer, p.data.prompt, p.data.max_source_length,
                                      p.data.max_target_length)
        truncated = sum(n >= p.data.max_source_length for n in splits[split]["length"])
        print(f"{split}: {len(rows)} rows, {len(set(r['dialogue'] for r in rows))} dialogues, "
              f"{truncated} prompts truncated to {p.data.max_source_length} tokens")
    modeling.snapshot_base(p.model.name, p.model.revision)
    with atomic_path(data.PREPARED) as tmp:
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
    wrote(data.PREPARED, modeling.BASE)


if __name__ == "__main__":
    run(main)
