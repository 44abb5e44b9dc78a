"""Whether a change between two runs is real: every model's ROUGE, paired on the same dialogues.

    python -m stages.compare [A] [B] [--mode mean_ref] [--json] [--plot plots/compare.png]

A and B are git revisions, branches, tags or DVC experiment names; default HEAD against the workspace.
Each run's predictions (data/predictions/<model>.jsonl) and references (its evaluation split in
data/prepared) are read through DVC's Python API, from the cache or pulled from the remote. The
difference B minus A gets a bootstrap interval over dialogues and a sign-flip p-value (stages/scoring/stats.py,
with params.yaml's evaluate section); a difference is called significant only where its p after Holm's correction
for the comparisons shown (models x ROUGE variants of one mode) is below 1 - confidence. Runs scored on
different dialogues are refused.
"""
import argparse
import json
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from dvc.exceptions import DvcException
from scmrepo.exceptions import SCMError

from . import evaluate
from .data import dialogsum
from .io import params, files
from .scoring import baselines, diversity, records, rouge, stats
from .io.errors import UserError, run
from .io.text import terminal
from .reporting import verdicts
from .reporting.report import PRIMARY, TITLES
from .experiments.runs import flat_params

WORKSPACE = "workspace"
DVC_ERRORS = (DvcException, SCMError)  # what reading a rev raises for the user's mistakes


class Run:
    """One side of a comparison: a rev (None = the workspace) read through DVCFileSystem."""

    def __init__(self, rev: str | None, scratch: Path):
        from dvc.api import DVCFileSystem

        self.rev, self.scratch = rev, scratch
        self.name = rev or WORKSPACE
        try:
            self.fs = DVCFileSystem(".", rev=rev)
        except DVC_ERRORS as error:  # an unknown rev, not a DVC repo: both the user's to fix
            raise UserError(_unreadable(self.name, error)) from None
        self.params = flat_params(_params_show(rev, self.name))
        self.commit = self.fs.repo.get_rev() if rev else None  # None: the workspace, which no commit names

    def get(self, path: str, output: str | None = None) -> Path:
        """`path` (inside the DVC output `output`, default itself) at this rev, copied to the scratch folder;
        DVC pulls it when the cache lacks it."""
        local = self.scratch / path
        if not self.produced(output or path):
            raise UserError(f"{self.name} has no {output or path}: that run has not produced it (its dvc.lock "
                            "does not list it). Run the pipeline there (`dvc repro` and commit, or `dvc exp "
                            "run`), or compare other runs.")
        with self.reading(path):
            self.fs.get(path, str(local), recursive=self.fs.isdir(path))
        return local

    @contextmanager
    def reading(self, path: str):
        """Every read of DVC's files at this rev: what DVC raises for an object that is neither cached nor on the
        remote (a fresh clone, nothing pulled), or a remote it cannot reach, is one message."""
        from dvc_data.index.index import DataIndexError

        try:
            yield
        except (OSError, DvcException, DataIndexError) as error:
            raise UserError(f"cannot read {path} of {self.name} from DVC's cache or remote "
                            f"({type(error).__name__}: {_first_line(error)}): it is recorded in that run's "
                            "dvc.lock but is in neither. Fetch it (`dvc pull`, or `dvc exp pull origin NAME` for "
                            "an experiment), push it from the machine that made it (`dvc push`), or check the "
                            "remote with `dvc remote list`.") from None

    def produced(self, path: str) -> bool:
        """A file in the workspace, or an output with a hash in the rev's dvc.lock (declared in dvc.yaml alone,
        DVCFileSystem lists it empty)."""
        with self.reading(path):
            if not self.fs.exists(path):
                return False
            info = self.fs.info(path)
        return "fs_info" in info or "md5" in info or "md5" in (info.get("dvc_info") or {})

    def references(self) -> list[dict]:
        import datasets

        split = self.params.get("generate.split", "test")
        # only the scored split: the train split of the real data set is far larger and not needed here
        path = f"{dialogsum.PREPARED.as_posix()}/{split}"
        with self.reading(path):
            missing = not self.fs.isdir(path)
        if missing and self.produced(dialogsum.PREPARED.as_posix()):
            raise UserError(f"{self.name}'s {dialogsum.PREPARED} has no split {split!r} (generate.split there).")
        table = datasets.load_from_disk(str(self.get(path, output=dialogsum.PREPARED.as_posix())))
        return [{"id": i, "dialogue": d, "summary": s} for i, d, s in zip(table["id"], table["dialogue"],
                                                                           table["summary"])]

    def predictions(self, model: str, references: list[dict]) -> list[str] | None:
        path = f"{dialogsum.PREDICTIONS.as_posix()}/{model}.jsonl"
        if not self.produced(path):
            return None
        local = self.get(path)
        return records.match(records.read_predictions(local), references, f"{self.name}:{path}",
                             f"{self.name}'s {self.params.get('generate.split', 'test')} split")


    def generation(self, model: str) -> dict | None:
        """The generate stage's speed and engine (metrics/generate_<model>.json), or None where there is none."""
        from dvc_data.index.index import DataIndexError

        path = f"metrics/generate_{model}.json"
        try:
            with self.fs.open(path) as handle:
                found = json.load(handle)
        except (OSError, ValueError, DvcException, DataIndexError):
            return None
        keep = ("s_per_dialogue", "engine", "compute_type", "precision", "device", "threads", "cpu_model", "gpu",
                "cpu_count", "load_average_1min")
        return {key: found[key] for key in keep if key in found} if isinstance(found, dict) else None


def _params_show(rev, name) -> dict:
    import dvc.api

    try:
        return dvc.api.params_show(repo=".", rev=rev)
    except DVC_ERRORS as error:
        raise UserError(_unreadable(name, error)) from None


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _unreadable(name, error) -> str:
    return (f"cannot read revision {name!r} ({type(error).__name__}: {_first_line(error)}). Give a git commit, "
            "branch or tag (`git log --oneline`, `git branch -a`) or an experiment name (`dvc exp list -A`), "
            "from inside the project's folder.")


def param_diff(a: dict, b: dict) -> dict[str, tuple]:
    """{key: (value in A, value in B)} for every flat params key whose value differs; absent is None."""
    return {key: (a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}


def dialogues(references: list[dict], where: str = "the references") -> dict[tuple[str, str], tuple]:
    """(dialogue id, text with whitespace normalised) -> (id of its first row, its references sorted: every
    scoring mode ignores their order); rows of one dialogue as the evaluate stage groups them
    (stages/data/dialogsum.py)."""
    groups = records.groups(references, where)
    names = dialogsum.names([row["id"] for row in references], groups)
    return {(name, dialogsum.normal(references[rows[0]]["dialogue"])):
            (references[rows[0]]["id"], tuple(sorted(references[i]["summary"] for i in rows)))
            for name, rows in zip(names, groups)}


def check_same_dialogues(a: list[dict], b: list[dict], name_a: str, name_b: str) -> None:
    """Refuse, naming the difference, unless both runs scored the same dialogues against the same references."""
    da, db = dialogues(a, name_a), dialogues(b, name_b)
    only_a = [da[t][0] for t in da if t not in db]
    only_b = [db[t][0] for t in db if t not in da]
    if only_a or only_b:
        parts = [f"{len(only)} only in {name} (first {only[0]!r})" for only, name in ((only_a, name_a),
                                                                                     (only_b, name_b)) if only]
        raise UserError(f"{name_a} and {name_b} were scored on different dialogues ({len(da)} and {len(db)} "
                        f"dialogues; {', '.join(parts)}), so their ROUGE cannot be paired. Compare runs with "
                        "the same data.* params (max_test_samples, seed, source) and generate.split.")
    changed = [da[t][0] for t in da if da[t][1] != db[t][1]]
    if changed:
        raise UserError(f"{name_a} and {name_b} have the same dialogues but different reference summaries for "
                        f"{len(changed)} of them (first {changed[0]!r}); their ROUGE is not comparable.")


def compare_runs(a: Run, b: Run, resamples: int, seed: int, confidence: float) -> dict:
    """B minus A for each model both runs have, in every scoring mode, plus notes and the params diff."""
    refs_a, refs_b = a.references(), b.references()
    diff = param_diff(a.params, b.params)
    try:
        check_same_dialogues(refs_a, refs_b, a.name, b.name)
    except UserError as error:
        raise UserError(f"{error} Params that differ: {_listed(diff)}.") from None
    # B's rows in A's dialogue order, so per-dialogue values line up (ids and rows may be ordered differently)
    order = {key: index for index, key in enumerate(dialogues(refs_a, a.name))}
    rank_b = {}
    for key, rows in zip(dialogues(refs_b, b.name), records.groups(refs_b, b.name)):
        rank_b.update({i: (order[key], position) for position, i in enumerate(rows)})
    refs_b_sorted = [refs_b[i] for i in sorted(range(len(refs_b)), key=rank_b.__getitem__)]
    n = len(order)
    out = {"a": a.name, "b": b.name, "dialogues": n, "rows": len(refs_a), "resamples": resamples, "seed": seed,
           "confidence": confidence, "params_diff": {k: list(v) for k, v in diff.items()},
           "models": {}, "notes": []}
    if a.commit and a.commit == b.commit:
        out["notes"].append(f"{a.name} and {b.name} are the same commit ({a.commit[:7]}): nothing can differ")
    scored, groups_a = {}, records.groups(refs_a, a.name)
    out["outputs"], out["baselines"] = {}, baseline_scores(refs_a, a.name, groups_a)
    for model in dialogsum.MODELS:
        texts_a, texts_b = a.predictions(model, refs_a), b.predictions(model, refs_b)
        if texts_a is None or texts_b is None:
            lacking = [run.name for run, texts in ((a, texts_a), (b, texts_b)) if texts is None]
            out["notes"].append(f"{model}: no predictions in {' and '.join(lacking)}; left out")
            continue
        by_row = dict(zip((id(row) for row in refs_b), texts_b))
        texts_b = [by_row[id(row)] for row in refs_b_sorted]
        scored[model] = (evaluate.score(texts_b, refs_b_sorted, b.name), evaluate.score(texts_a, refs_a, a.name))
        out["outputs"][model] = {side: diversity.count(diversity.per_dialogue(texts, groups))
                                 for side, texts, groups in (("a", texts_a, groups_a),
                                                             ("b", texts_b, records.groups(refs_b_sorted, b.name)))}
        if texts_a == texts_b:
            out["notes"].append(f"{model}: the same summaries in both runs; every difference is 0")
    if not scored:
        raise UserError(f"no model has predictions in both {a.name} and {b.name} (data/predictions/*.jsonl); "
                        "run the pipeline in both, or pick other revisions.")
    # one family per scoring mode: every model compared x ROUGE variant (evaluate.compare's _p_holm)
    paired = evaluate.compare(scored, stats.Resamples(n, resamples, seed), confidence)
    for model, (modes_b, modes_a) in scored.items():
        out["models"][model] = {mode: {
            **{f"{key}_a": round(float(modes_a[mode].estimate()[i]), rouge.DIGITS) for i, key in enumerate(rouge.KEYS)},
            **{f"{key}_b": round(float(modes_b[mode].estimate()[i]), rouge.DIGITS) for i, key in enumerate(rouge.KEYS)},
            **paired[model][mode]} for mode in rouge.MODES}
        out.setdefault("generation", {})[model] = {"a": a.generation(model), "b": b.generation(model)}
    return out


def baseline_scores(references: list[dict], where: str, groups) -> dict:
    """{baseline: {mode: {variant: score}}} on these dialogues: the same in both runs, which were checked to have
    scored the same dialogues against the same references."""
    out = {}
    for name, texts in baselines.summaries(references, groups).items():
        out[name] = {mode: {key: round(float(value), rouge.DIGITS) for key, value in zip(rouge.KEYS, per.estimate())}
                     for mode, per in evaluate.score(texts, references, where).items()}
    return out


def _listed(diff: dict) -> str:
    return ", ".join(f"{key} {a!r} -> {b!r}" for key, (a, b) in diff.items()) if diff else "none"


def significant(result: dict, mode: str) -> list[str]:
    """'<model> <variant> (<run> higher)' for each difference whose Holm-adjusted p is below the level that
    goes with the intervals' confidence: the only conclusion drawn (the interval is a size estimate)."""
    level, found = stats.alpha(result["confidence"]), []
    for model, modes in result["models"].items():
        for key in rouge.KEYS:
            m = modes[mode]
            if m[key + "_p_holm"] < level:
                side = "b" if m[key + "_diff"] > 0 else "a"
                # a run whose model writes one summary for most dialogues is never called higher without saying so
                counts = result.get("outputs", {}).get(model, {}).get(side)
                clause = verdicts.caveat(f"{model} in {result[side]}", counts)
                found.append(f"{model} {key} ({result[side]} higher{', ' + clause if clause else ''})")
    return found


def output_lines(result: dict, mode: str) -> list[str]:
    """Degenerate output of either run, and each model that scores below the better baseline (point estimates of
    the same dialogues: stages.evaluate's report tests it)."""
    lines = []
    for model, sides in result.get("outputs", {}).items():
        for side in ("a", "b"):
            note = verdicts.degenerate_note(f"{model} in {result[side]}", sides[side])
            lines += [f"note: {note}"] if note else []
    found = result.get("baselines") or {}
    best = verdicts.better_baseline(found, mode)
    if not best:
        return lines
    key = verdicts.DECIDING
    lines.append(f"baselines on these dialogues, {mode}: " + "; ".join(
        f"{name} " + " ".join(f"{k} {scores[mode][k]:.4f}" for k in rouge.KEYS) for name, scores in found.items()))
    for model, modes in result["models"].items():
        for side in ("a", "b"):
            score = modes[mode][f"{key}_{side}"]
            if score <= found[best][mode][key]:
                lines.append(f"note: {model} in {result[side]} does not beat the better baseline, {best}: "
                             f"{TITLES[key]} {score:.4f} against {found[best][mode][key]:.4f}")
    return lines


def table(result: dict, mode: str) -> str:
    family = len(result["models"]) * len(rouge.KEYS)
    level = stats.alpha(result["confidence"])
    lines = [f"{result['b']} minus {result['a']}, {mode}, {result['dialogues']} dialogues ({result['rows']} "
             f"reference rows): {result['confidence']:.0%} bootstrap interval over dialogues (an estimate of the "
             f"size), sign-flip p-value, and p_holm: p after Holm's correction for these {family} comparisons; "
             f"A = {result['a']}, B = {result['b']}",
             f"{'model':6} {'variant':9} {'A':>8} {'B':>8} {'B-A':>8}  {'interval':>19} {'p':>7} {'p_holm':>7}"]
    for model, modes in result["models"].items():
        m = modes[mode]
        for key in rouge.KEYS:
            lines.append(f"{model:6} {key:9} {m[key + '_a']:8.4f} {m[key + '_b']:8.4f} {m[key + '_diff']:+8.4f}  "
                         f"[{m[key + '_low']:+.4f}, {m[key + '_high']:+.4f}] {m[key + '_p']:7.4f} "
                         f"{m[key + '_p_holm']:7.4f}")
    found = significant(result, mode)
    lines.append(f"significant after Holm's correction (p_holm < {level:g}): {'; '.join(found)}" if found else
                 f"none of the {family} differences is significant after Holm's correction (p_holm < {level:g})")
    lines += output_lines(result, mode)
    lines += speed_lines(result.get("generation", {}))
    lines.append(f"params that differ: {_listed(result['params_diff'])}")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(map(terminal, lines))  # run names, params and engines are data: no escape or line of their own


def speed_lines(generation: dict) -> list[str]:
    """Per model, the generation speed of A and B with the engine each ran, where both runs recorded it; the ratio
    only where they are comparable (comparable()), with a caveat where the runs did not record where they ran."""
    lines = []
    for model, runs in generation.items():
        a, b = runs["a"] or {}, runs["b"] or {}
        if a.get("s_per_dialogue") and b.get("s_per_dialogue"):
            why = comparable(a, b)
            ratio = f"B {a['s_per_dialogue'] / b['s_per_dialogue']:.2f}x as fast"
            if why is not None:
                ratio = f"not comparable: {why}"
            elif not all(run.get("cpu_model") for run in (a, b)):
                ratio += (" (the machine is not recorded for " + " and ".join(
                    side for side, run in (("A", a), ("B", b)) if not run.get("cpu_model")) +
                    ": comparable only if both ran on one machine under like load)")
            lines.append(f"speed  {model:6} A {a['s_per_dialogue']:.4f} s/dialogue ({_engine(a)}), B "
                         f"{b['s_per_dialogue']:.4f} s/dialogue ({_engine(b)}): {ratio}")
    return lines


LOAD_GAP = 0.25  # load averages per CPU further apart than this: one run shared its CPUs with other work


def comparable(a: dict, b: dict) -> str | None:
    """Why two generation timings are not comparable, or None: recorded on different machines (GPU, or CPU model
    and count), or under different load (the 1-minute load average per CPU just before generating, more than
    LOAD_GAP apart). What a run did not record cannot be told apart: None."""
    if not all(run.get("cpu_model") for run in (a, b)):
        return None
    where_a, where_b = ((run.get("gpu"), run["cpu_model"], run.get("cpu_count")) for run in (a, b))
    if where_a != where_b:
        return f"different machines (A {_machine(a)}, B {_machine(b)})"
    loads = [run["load_average_1min"] / run["cpu_count"] for run in (a, b)
             if run.get("load_average_1min") is not None and run.get("cpu_count")]
    if len(loads) == 2 and abs(loads[0] - loads[1]) > LOAD_GAP:
        return (f"measured under different load (1-minute load average per CPU before generating: A "
                f"{loads[0]:.2f}, B {loads[1]:.2f})")
    return None


def _machine(run: dict) -> str:
    return (run.get("gpu") or f"{run['cpu_model']}, {run.get('cpu_count') or '?'} CPUs")


def _engine(run: dict) -> str:
    return " ".join(str(run[k]) for k in ("engine", "compute_type") if run.get(k)) or \
        f"torch {run.get('precision', '')}".strip()


def forest(result: dict, mode: str, path: Path) -> None:
    """Difference with its interval per model and ROUGE variant, zero marked, Holm-adjusted p beside: a forest
    plot. Run names are data: `$` in them is escaped, or matplotlib would parse `$...$` as mathtext."""
    from .reporting import plots  # matplotlib: only loaded to draw

    rows = [(model, key, values[mode]) for model, values in result["models"].items() for key in rouge.KEYS]
    figure, axes = plots.plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    for y, (model, key, m) in enumerate(reversed(rows)):
        diff = m[key + "_diff"]
        axes.errorbar(diff, y, xerr=[[diff - m[key + "_low"]], [m[key + "_high"] - diff]], fmt="o", capsize=3,
                      color=f"C{list(result['models']).index(model)}")
    axes.axvline(0, color="grey", linewidth=1)
    beside = plots.matplotlib.transforms.blended_transform_factory(axes.transAxes, axes.transData)
    for y, (_, key, m) in enumerate(reversed(rows)):
        axes.text(1.01, y, f"p_holm={m[key + '_p_holm']:.3g}", transform=beside, va="center", fontsize="small")
    axes.set_yticks(range(len(rows)), [f"{model} {key}" for model, key, _ in reversed(rows)])
    axes.set(xlabel=plots.literal(f"{result['b']} minus {result['a']} ({mode}, {result['confidence']:.0%} interval)"),
             title=f"ROUGE difference on {result['dialogues']} dialogues")
    plots.save(figure, path)


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(prog="python -m stages.compare", description=__doc__.split("\n\n")[0])
    cli.add_argument("a", nargs="?", default="HEAD", help="revision, branch, tag or experiment (default HEAD)")
    cli.add_argument("b", nargs="?", default=None, help="the other one (default: the workspace)")
    cli.add_argument("--mode", choices=rouge.MODES, default=PRIMARY, help="scoring mode of the table and plot")
    cli.add_argument("--json", action="store_true", help="print every mode's figures as JSON instead of the table")
    cli.add_argument("--plot", type=Path, default=Path("plots/compare.png"), help="forest plot PNG to write")
    cli.add_argument("--force", action="store_true", help="replace --plot even if this command did not write it")
    args = cli.parse_args(argv)
    if not Path("dvc.yaml").is_file():
        raise UserError("run this from the project's folder (where dvc.yaml is).")
    files.target(args.plot, "--plot", args.force)  # before any work
    settings = params.load().evaluate
    with tempfile.TemporaryDirectory(prefix="compare-") as scratch:
        a, b = Run(args.a, Path(scratch) / "a"), Run(args.b, Path(scratch) / "b")
        result = compare_runs(a, b, settings.resamples, settings.seed, settings.confidence)
    files.target(args.plot, "--plot", args.force)  # again: a file may have appeared there while the runs were read
    forest(result, args.mode, args.plot)
    files.sign(args.plot, "python -m stages.compare")
    print(json.dumps(result, indent=2) if args.json else table(result, args.mode))
    print(terminal(f"wrote {args.plot}"), file=sys.stderr)


if __name__ == "__main__":
    run(main, sys.argv[1:])
