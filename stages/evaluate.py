"""Stage evaluate, and a standalone scorer for any system's summaries.

    python -m stages.evaluate                                      # the DVC stage
    python -m stages.evaluate --predictions FILE [--references FILE] [--output FILE.json]

ROUGE in three scoring modes (see stages/scoring/rouge.py) with bootstrap intervals over dialogues, of the models
and of two extractive baselines (stages/scoring/baselines.py), paired tests between models and of each model
against the better baseline, the cost of each model, a Markdown report, plots and a page of every summary.
Which numbers are DVC metrics and which are detail is stages/reporting/report.py's.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .scoring import baselines, costs, diversity, records, rouge, stats
from .data import dialogsum
from .reporting import page, provenance, report, verdicts
from .io import params, files, stage as running
from .io.errors import UserError, run
from .io.files import write_json, write_text, wrote
from .io.text import csv_frame
from .reporting.report import TITLES

PAIRS = (("full", "lora"), ("full", "base"), ("lora", "base"))
LOSS_LOGS = {"full": Path("plots/train_full/plots/metrics"), "lora": Path("plots/train_lora/plots/metrics")}


def score(predictions: list[str], references: list[dict],
          where: str = "the references") -> dict[str, rouge.PerDialogue]:
    """Per-dialogue values of every scoring mode; rows of one dialogue are grouped by its id (DialogSum's
    `{dialogue}_{k}`), else by its text (stages/data/dialogsum.py)."""
    groups = records.groups(references, where)
    scores = rouge.row_scores(predictions, [row["summary"] for row in references])
    return rouge.by_dialogue(scores, groups)


def _round(value) -> float:
    return round(float(value), rouge.DIGITS)


def summarize(runs: dict[str, dict[str, rouge.PerDialogue]], resamples: stats.Resamples,
              confidence) -> dict[str, dict[str, dict[str, float]]]:
    """{name: {mode: {rouge1, rouge1_low, rouge1_high, ...}}}: each run's scores and their bootstrap intervals,
    all from one pass over the resamples."""
    cells = [(name, mode, per) for name, modes in runs.items() for mode, per in modes.items()]
    results = stats.bootstrap([(per.values, per.weights) for *_, per in cells], resamples, confidence)
    out: dict = {}
    for (name, mode, _), (estimate, low, high) in zip(cells, results):
        out.setdefault(name, {})[mode] = {}
        for i, key in enumerate(rouge.KEYS):
            out[name][mode].update({key: _round(estimate[i]), f"{key}_low": _round(low[i]),
                                    f"{key}_high": _round(high[i])})
    return out


def compare(pairs: dict[str, tuple[dict, dict]], resamples: stats.Resamples, confidence) -> dict[str, dict]:
    """{name: {mode: {rouge1_diff, rouge1_low, rouge1_high, rouge1_p, rouge1_p_holm, ...}}}: A minus B for each
    (modes of A, modes of B) in `pairs`. `_p_holm` is `_p` after Holm's correction over one scoring mode's
    comparisons (every pair x ROUGE variant): each mode is its own family, as a reader draws conclusions
    from one mode (the report: the primary one; stages.compare: the --mode shown)."""
    cells = [(name, mode, a[mode], b[mode]) for name, (a, b) in pairs.items() for mode in a]
    results = stats.paired([(a.values, b.values, a.weights) for *_, a, b in cells], resamples, confidence)
    adjusted = [None] * len(cells)
    for mode in dict.fromkeys(mode for _, mode, *_ in cells):
        family = [i for i, cell in enumerate(cells) if cell[1] == mode]
        for i, p_holm in zip(family, stats.holm(np.array([results[i][3] for i in family]))):
            adjusted[i] = p_holm
    out: dict = {}
    for (name, mode, *_), (difference, low, high, p), p_holm in zip(cells, results, adjusted):
        out.setdefault(name, {})[mode] = {}
        for i, key in enumerate(rouge.KEYS):
            out[name][mode].update({f"{key}_diff": _round(difference[i]), f"{key}_low": _round(low[i]),
                                    f"{key}_high": _round(high[i]), f"{key}_p": _round(p[i]),
                                    f"{key}_p_holm": _round(p_holm[i])})
    return out


def references_from(path, split: str) -> tuple[list[dict], str]:
    """Reference rows (id, dialogue, summary) from a file, or from the prepared evaluation split."""
    if path:
        return records.read_references(path), str(path)
    table = dialogsum.load_prepared(split)
    rows = [{"id": i, "dialogue": d, "summary": s} for i, d, s in zip(table["id"], table["dialogue"], table["summary"])]
    return rows, f"the {split} split in {dialogsum.PREPARED}"


def matched(predictions_path, references: list[dict], references_name: str) -> list[str]:
    """The file's prediction for each reference row (records.match), after warning of unscorable references."""
    predictions = records.read_predictions(predictions_path)
    rouge.warn_unscorable([row["summary"] for row in references], references_name)
    return records.match(predictions, references, predictions_path, references_name)


# ---- the DVC stage -------------------------------------------------------------------------------

def loss_table() -> pd.DataFrame:
    """DVCLive's train/loss.tsv and eval/loss.tsv of each trained model, in one long table."""
    frames = []
    for model, folder in LOSS_LOGS.items():
        for split in ("train", "eval"):
            path = folder / split / "loss.tsv"
            if path.is_file():
                frame = pd.read_csv(path, sep="\t")
                frames.append(frame[["step", "loss"]].assign(model=model, split=split))
    columns = ["model", "split", "step", "loss"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def length_tables(predictions: dict[str, list[str]], references: list[dict], groups):
    """Words per summary: one row per summary for the chart, and the share of each source's summaries at
    each length (long form: words, source, share) for `dvc plots`."""
    rows = [{"source": "reference", "words": len(row["summary"].split())} for row in references]
    for model, texts in predictions.items():
        rows += [{"source": model, "words": len(texts[group[0]].split())} for group in groups]
    long = pd.DataFrame(rows)
    share = pd.crosstab(long["words"], long["source"], normalize="columns").round(6)
    share = share.reindex(range(int(long["words"].min()), int(long["words"].max()) + 1), fill_value=0.0)
    share = share[["reference", *predictions]].rename_axis("words").reset_index()
    share = share.melt(id_vars="words", var_name="source", value_name="share")
    return long, share[["source", "words", "share"]]


def rouge_table(scores: dict, mode: str) -> pd.DataFrame:
    """One mode's scores with their interval, a row per model and ROUGE variant."""
    return pd.DataFrame([{"model": model, "metric": TITLES[key], "score": modes[mode][key],
                          "low": modes[mode][f"{key}_low"], "high": modes[mode][f"{key}_high"]}
                         for model, modes in scores.items() for key in rouge.KEYS])


def examples(chosen, references, groups, predictions, per_model) -> list[tuple[str, dict]]:
    names = dialogsum.names([row["id"] for row in references], groups)
    out = []
    for index, why in chosen:
        group = groups[index]
        out.append((why, {
            "id": names[index],
            "dialogue": references[group[0]]["dialogue"],
            "references": [references[i]["summary"] for i in group],
            "predictions": {model: texts[group[0]] for model, texts in predictions.items()},
            "rougeL": {model: float(values[index]) for model, values in per_model.items()},
        }))
    return out


def stage() -> None:
    p = running.start("evaluate")
    references, name = references_from(None, p.generate.split)
    groups = records.groups(references, name)
    resamples = stats.Resamples(len(groups), p.evaluate.resamples, p.evaluate.seed)
    rouge.warn_unscorable([row["summary"] for row in references], name)

    texts, modes = {}, {}
    for model in dialogsum.MODELS:
        path = dialogsum.PREDICTIONS / f"{model}.jsonl"
        texts[model] = records.match(records.read_predictions(path), references, path, name)
    texts.update(baselines.summaries(references, groups))  # scored like a model: the bar every model must clear
    for source, summaries in texts.items():
        modes[source] = score(summaries, references, name)
    scores = summarize(modes, resamples, p.evaluate.confidence)
    paired = compare({f"{a}_vs_{b}": (modes[a], modes[b]) for a, b in pairs(scores)}, resamples,
                     p.evaluate.confidence)
    cost = costs.collect(Path("models/base"), dialogsum.MODELS)
    outputs = {source: diversity.count(diversity.per_dialogue(summaries, groups))  # how many different summaries
               for source, summaries in texts.items()}
    with running.writing():
        write_outputs(p, references, groups, texts, modes, scores, paired, cost, outputs)
    for source in texts:
        print(source, {mode: scores[source][mode]["rouge1"] for mode in rouge.MODES})


def pairs(scores: dict) -> list[tuple[str, str]]:
    """The paired tests: the models two by two, then each model against the better baseline (the one with the
    higher ROUGE-L in the primary mode, so that "beats the baselines" means beating the stronger one). All of
    one scoring mode are one family for Holm's correction (compare)."""
    best = verdicts.better_baseline(scores, report.PRIMARY)
    return [*PAIRS, *((model, best) for model in dialogsum.MODELS if best)]


def write_outputs(p, references, groups, texts, modes, scores, paired, cost, outputs) -> None:
    """The report, the headline metrics, the plots and the page of summaries."""
    from .reporting import plots  # matplotlib: only the stage draws

    report.write(scores, paired, cost, report.PRIMARY)

    rouge_l = {source: modes[source][report.PRIMARY].values[:, rouge.KEYS.index("rougeL")] for source in texts}
    chosen = report.choose_examples({model: rouge_l[model] for model in dialogsum.MODELS}, PAIRS[0])
    level = stats.alpha(p.evaluate.confidence)
    setup = {"split": p.generate.split, "dialogues": len(groups), "rows": len(references),
             "resamples": p.evaluate.resamples, "seed": p.evaluate.seed, "confidence": p.evaluate.confidence,
             "run": provenance.lines(provenance.collect(dialogsum.MODELS)), "outputs": outputs,
             "notes": verdicts.notes(dialogsum.MODELS, scores, paired, outputs, report.PRIMARY, level),
             "caveats": {source: verdicts.caveat(source, counts) for source, counts in outputs.items()}}
    write_text(Path("metrics/report.md"), report.render(
        scores, paired, cost, examples(chosen, references, groups, texts, rouge_l), setup))

    table = rouge_table(scores, report.PRIMARY)  # the baselines' bars beside the models
    write_text(Path("plots/rouge.csv"), csv_frame(table).to_csv(index=False))
    plots.rouge_bars(table, Path("plots/rouge.png"), f"{report.PRIMARY}: {report.MODE_TEXT[report.PRIMARY]}")
    losses = loss_table()
    write_text(Path("plots/loss.csv"), csv_frame(losses).to_csv(index=False))
    plots.loss_curves(losses, Path("plots/loss.png"))
    long, share = length_tables({model: texts[model] for model in dialogsum.MODELS}, references, groups)
    write_text(Path("plots/lengths.csv"), csv_frame(share).to_csv(index=False))
    plots.length_distribution(long, Path("plots/lengths.png"))
    write_text(Path("metrics/summaries.html"), page.render(
        references, groups, texts, {source: modes[source][report.PRIMARY].values for source in texts}, setup))


# ---- the standalone scorer -------------------------------------------------------------------------

def standalone(args) -> None:
    p = params.load()
    if args.output:  # before scoring: an --output that cannot or must not be written stops the run now
        files.target(args.output, "--output", args.force)
    references, name = references_from(args.references, p.generate.split)
    texts = matched(args.predictions, references, name)
    modes = score(texts, references, name)
    n = len(next(iter(modes.values())).weights)
    result = summarize({"": modes}, stats.Resamples(n, p.evaluate.resamples, p.evaluate.seed),
                       p.evaluate.confidence)[""]
    print(f"{args.predictions} against {name}: {len(references)} rows, {n} dialogues; "
          f"{p.evaluate.confidence:.0%} bootstrap intervals over dialogues")
    for mode, values in result.items():
        print(f"  {mode:9s} " + "  ".join(f"{key} {values[key]:.4f} [{values[key + '_low']:.4f}, "
                                          f"{values[key + '_high']:.4f}]" for key in rouge.KEYS))
    counts = diversity.count(diversity.per_dialogue(texts, records.groups(references, name)))
    print(f"  distinct summaries: {counts['distinct_summaries']} of {counts['dialogues']} dialogues"
          + (f", {counts['empty_share']:.0%} empty" if counts["empty_share"] else ""))
    if verdicts.degenerate(counts):
        print(f"note: {verdicts.degenerate_note('this file', counts)}")
    if args.output:
        files.target(args.output, "--output", args.force)  # again: a file may have appeared there meanwhile
        write_json(Path(args.output), result)
        files.sign(args.output, "python -m stages.evaluate")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m stages.evaluate",
        description="Without arguments: the DVC stage. With --predictions: score a JSONL or CSV file of "
                    "(id, prediction) rows against the references, in the three scoring modes, with "
                    "bootstrap intervals (resamples, seed and confidence from params.yaml's evaluate section). "
                    "Give one prediction per reference row (ids test_0_1, test_0_2, ...) or one per dialogue "
                    "(id test_0, or a dialogue column holding the dialogue's text instead of an id).")
    cli.add_argument("--predictions", type=Path,
                     help="JSONL or CSV with columns id, prediction (or dialogue, prediction)")
    cli.add_argument("--references", type=Path,
                     help="JSONL or CSV with columns id, dialogue, summary (DialogSum layout); default: the "
                          "evaluation split (generate.split) in data/prepared")
    cli.add_argument("--output", type=Path, help="also write the scores to this JSON file")
    cli.add_argument("--force", action="store_true",
                     help="replace --output even if it is a file this command did not write")
    return cli


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.predictions is None:
        if args.references or args.output or args.force:
            raise UserError("--references and --output go with --predictions FILE; without arguments "
                            "this runs the evaluate stage.")
        stage()
        wrote("metrics/report.md", "metrics/summaries.html", "metrics/rouge*.json", "metrics/efficiency*.json",
              "plots/*.png")
    else:
        standalone(args)


if __name__ == "__main__":
    run(main, sys.argv[1:])
