"""Stage prepare: read and validate the dialogues (DialogSum, or your own: docs/data.md), snapshot the base model,
tokenize prompts into data/prepared."""
import datasets

from .data import checks, dialogue, dialogsum, loading, sources, vocab
from .modeling import models
from .io import stage
from .io.errors import ParamsError, run
from .io.files import atomic_path, wrote

VERY_LARGE = 1_000_000  # tokenizers with no declared limit report ~1e30


def check_lengths(p, tokenizer) -> None:
    limit = tokenizer.model_max_length
    for key in ("max_source_length", "max_target_length"):
        value = getattr(p.data, key)
        if limit < VERY_LARGE and value > limit:
            raise ParamsError(f"data.{key}", f"{value} is beyond the model's maximum of {limit} tokens.")
    added = tokenizer.num_special_tokens_to_add()
    if p.data.max_target_length <= added:
        raise ParamsError("data.max_target_length", f"{p.data.max_target_length} token(s) hold only the tokenizer's "
                          f"{added} special token(s) (the end-of-sequence token): every summary would be cut to "
                          "nothing and the model would learn to say nothing. Raise it; DialogSum's summaries are "
                          "up to about 200 tokens.")


def main() -> None:
    p = stage.start("prepare")
    layout = loading.layout_of(p.data)
    local = loading.is_local(p.data.source)
    files = list(loading.split_files(p.data.source, layout).values()) if local else None
    used = {"model": sources.resolve("model", p.model.name, p.model.revision, dialogsum.is_local(p.model.name)),
            "data": sources.resolve("dataset", p.data.source, p.data.revision, local, files=files)}
    if layout.config:
        used["data"]["config"] = layout.config
    raw, made = loading.load(p.data.source, sources.used(used["data"]), layout, p.data.seed)
    used["data"].update(made)  # a validation split carved from train: how
    used["data"].update(loading.about(p.data, used["data"], sources.used(used["data"])))

    # Every check before anything is written: a failed prepare leaves no output behind.
    vocab.check_files(p.model.name)
    tokenizer = models.load_tokenizer(p.model.name, sources.used(used["model"]))
    check_lengths(p, tokenizer)
    vocab.check_sample(p.model.name, tokenizer, [row["dialogue"] for row in raw["train"]])
    for split, rows in raw.items():  # each dialogue as summarize and serve check it
        dialogue.check_split(split, rows, tokenizer)

    splits = {}
    # how many dialogues each split has before any subsample: the card states a score's share of its split
    used["dialogues"] = {split: len(dialogsum.group([r["id"] for r in rows], [r["dialogue"] for r in rows],
                                                            f"split {split!r}")) for split, rows in raw.items()}
    for split, rows in raw.items():
        rows = dialogsum.subsample(rows, getattr(p.data, f"max_{split}_samples"), p.data.seed, f"split {split!r}")
        splits[split] = dialogsum.tokenize(rows, tokenizer, p.data.prompt, p.data.max_source_length,
                                      p.data.max_target_length)
        vocab.warn_unknown(split, tokenizer, splits[split]["input_ids"])
        ids, texts = [r["id"] for r in rows], [r["dialogue"] for r in rows]
        groups = dialogsum.group(ids, texts, f"split {split!r}")
        truncated = checks.dialogues_with(groups, splits[split]["over_length"])
        print(f"{split}: {len(rows)} rows, {len(groups)} dialogues, "
              f"{truncated} dialogues cut to fit {p.data.max_source_length} prompt tokens (instruction kept)")
        checks.warn_cut_targets(split, groups, splits[split]["target_over_length"], p.data.max_target_length)
        if split != "train":
            checks.warn_overlap(split, splits["train"]["dialogue"], ids, texts, groups)
    with stage.writing():
        models.snapshot_base(p.model.name, sources.used(used["model"]))
        with atomic_path(dialogsum.PREPARED) as tmp:
            datasets.DatasetDict(splits).save_to_disk(str(tmp))
        sources.record(used)
    wrote(dialogsum.PREPARED, models.BASE, sources.SOURCES)


if __name__ == "__main__":
    run(main)
