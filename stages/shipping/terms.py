"""The card's Limitations, Licence and Provenance sections: what the model is not tested for, the terms it is
published under (its data's licence, carried to what is trained on it: licence.py), and where each of its parts
comes from."""
from ..io.errors import UserError
from ..io.text import code_span, revision_problem
from .record import Record, built, lock_outs
from . import licence as licences
from .subjects import METRICS_OF, HubRef, Subject, num, scored_on


def limitations(record: Record, subject: Subject) -> list[str]:
    model = METRICS_OF[subject.kind]
    d, t = record.params.data, getattr(record.params, f"train_{model}")
    name = licences.data_name(record.sources)
    lines = [
        "- Trained and scored on DialogSum only: short English chit-chat and service dialogues written as "
        "`#Person1#: ...` turns, one per line. Other genres, languages or speaker formats are untested."
        if name == "DialogSum" else
        f"- Trained and scored on {name} only. Other genres, languages or speaker formats are untested.",
        "- ROUGE counts overlapping words with human summaries; it does not check that a summary is faithful. "
        "Summaries can name the wrong speaker or state what the dialogue does not say: review them where it matters.",
        f"- The pipeline cut a prompt longer than max_source_length {num(d.max_source_length)} tokens inside the "
        "dialogue, keeping the instruction; the snippet above does not cut, so a longer dialogue may be summarized "
        "differently than the evaluation would have.",
    ]
    if t.max_steps > 0 or any(getattr(d, f"max_{s}_samples") is not None for s in ("train", "validation", "test")):
        lines.append(f"- This run used a subsample or a step limit (see Training): a smoke run, not the full recipe. "
                     f"Its scores are on {scored_on(record, model)}.")
    if built(record.sources):
        lines.append("- Its base model was built from random weights, not pretrained: it knows only the words and "
                     "patterns of this run's training data. Do not read its scores as those of a pretrained model.")
    return lines


def licence(record: Record, subject: Subject) -> list[str]:
    base = ("no licence of their own: they were built from random weights by this project"
            if subject.base.id is None or built(record.sources)
            else "Apache 2.0, which still applies to those weights" if subject.base.id.startswith("google/flan-t5")
            else "the licence on the base model's own card")
    return licences.section(record.sources, base)


def _ref(ref: HubRef, what: str) -> str:
    """One provenance line. The revision is refused unless git takes it as a ref name or it is a commit hash
    (stages/publish.py checks it first, with the option to fix), and written as a code span: no markup."""
    if ref.revision is not None and revision_problem(ref.revision):
        raise UserError(f"the {what}'s revision {ref.revision!r} is not a git branch or tag name or a commit hash "
                        f"({revision_problem(ref.revision)}); give a revision git takes.")
    at = f" at revision {code_span(ref.revision)}" if ref.revision else " (no revision recorded)"
    if not ref.declared:
        how = " (read from the Hub by prepare, as data/sources.json records)"
    elif ref.verified:
        how = (" (the run read a local copy; publishing checked that its files are this commit's: the sha256 of each "
               "weight file, the git blob id of the others)")
    elif what == "base model":
        how = (" (the run read a local copy that the publisher declared to be this; **not verified**: a dry run does "
               "not ask the Hub, and a publish checks the files' hashes against this commit)")
    else:
        how = " (the run read a local copy that the publisher declared to be this; not checked)"
    return f"- {what}: {code_span(ref.id)}{at}{how}"


def _base_ref(record: Record, subject: Subject) -> str:
    scratch = built(record.sources)
    if subject.base.id is None and scratch:
        return (f"- base model: a T5 of {num(scratch['parameters'])} parameters built from random weights (stages/"
                f"scratch, seed {num(scratch['seed'])}), on no Hub; data/sources.json records its files' hashes")
    return _ref(subject.base, "base model")


def _data_ref(record: Record, subject: Subject) -> str:
    if subject.dataset.id is None:  # --dataset none: data of one's own, on no Hub
        return (f"- data: {licences.data_name(record.sources)}, a local folder on no Hub (the publisher said so); "
                "data/sources.json records what prepare read")
    return _ref(subject.dataset, "data")


def provenance(record: Record, subject: Subject) -> list[str]:
    model = METRICS_OF[subject.kind]
    outs = lock_outs(record.lock)
    cited = ["data/prepared", "models/base", f"models/{model}", f"data/predictions/{model}.jsonl"]
    dirty = " (other tracked files had uncommitted changes; none of the run's records did)" if record.dirty else ""
    lines = [f"- git commit `{record.commit}`{dirty}: `git checkout {record.commit[:12]} && dvc pull` gives back "
             "this run's data, models and metrics",
             _base_ref(record, subject), _data_ref(record, subject),
             "- outputs as dvc.lock records them (md5; `.dir` is a folder):"]
    lines += [f"  - `{path}`: `{outs[path]}`" for path in cited if path in outs]
    return lines
