"""Two runs' ROUGE paired on the same dialogues: refused unless both scored the same dialogues against the same
references; then B minus A per model and scoring mode, with a bootstrap interval over dialogues and a sign-flip
p-value (stages/scoring/stats.py), Holm-corrected within each mode, beside the baselines and each run's output
diversity and generation speed."""
from .. import evaluate
from ..data import dialogsum
from ..io.errors import UserError
from ..scoring import baselines, diversity, records, rouge, stats
from .revision import Run


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
        raise UserError(f"{error} Params that differ: {listed(diff)}.") from None
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


def listed(diff: dict) -> str:
    return ", ".join(f"{key} {a!r} -> {b!r}" for key, (a, b) in diff.items()) if diff else "none"
