"""Stage prepare: validate DialogSum, snapshot the base model, tokenize prompts into data/prepared."""
import datasets

from . import data, modeling, params, sources, vocab
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
    used = {"model": sources.resolve("model", p.model.name, p.model.revision, data.is_local(p.model.name)),
            "data": sources.resolve("dataset", p.data.source, p.data.revision, data.is_local(p.data.source))}
    raw = data.load_raw(p.data.source, sources.used(used["data"]))
    for split, rows in raw.items():
        data.validate(split, rows)

    # Every check before anything is written: a failed prepare leaves no output behind.
    vocab.check_files(p.model.name)
    tokenizer = modeling.load_tokenizer(p.model.name, sources.used(used["model"]))
    check_lengths(p, tokenizer)
    vocab.check_sample(p.model.name, tokenizer, [row["dialogue"] for row in raw["train"]])

    splits = {}
    for split, rows in raw.items():
        rows = data.subsample(rows, getattr(p.data, f"max_{split}_samples"), p.data.seed)
        splits[split] = data.tokenize(rows, tokenizer, p.data.prompt, p.data.max_source_length,
                                      p.data.max_target_length)
        vocab.warn_unknown(split, tokenizer, splits[split]["input_ids"])
        truncated = sum(n > 0 for n in splits[split]["over_length"])
        print(f"{split}: {len(rows)} rows, {len(set(r['dialogue'] for r in rows))} dialogues, "
              f"{truncated} dialogues cut to fit {p.data.max_source_length} prompt tokens (instruction kept)")
    modeling.snapshot_base(p.model.name, sources.used(used["model"]))
    with atomic_path(data.PREPARED) as tmp:
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
    sources.record(used)
    wrote(data.PREPARED, modeling.BASE, sources.SOURCES)


if __name__ == "__main__":
    run(main)
