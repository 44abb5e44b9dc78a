"""Stage evaluate: ROUGE of every model's predictions into metrics/rouge.json and plots/rouge.*."""
from pathlib import Path

import pandas as pd

from . import data, params, plots, rouge
from .errors import UserError, run
from .files import read_jsonl, write_json, write_text
from .generate import MODELS, PREDICTIONS


def predictions_by_id(path) -> dict[str, str]:
    rows = read_jsonl(path)
    out = {}
    for number, row in enumerate(rows, start=1):
        if "id" not in row or "prediction" not in row:
            raise UserError(f"{path}, row {number}: needs keys 'id' and 'prediction'.")
        if row["id"] in out:
            raise UserError(f"{path}, row {number}: duplicate id {row['id']!r}.")
        out[row["id"]] = str(row["prediction"])
    return out


def score_model(predictions: dict[str, str], ids: list[str], references: list[str], path) -> dict[str, float]:
    missing = [i for i in ids if i not in predictions]
    if missing:
        raise UserError(f"{path} has no prediction for {len(missing)} id(s), first {missing[0]!r}: "
                        "rerun its generate stage.")
    return rouge.mean([rouge.score(predictions[i], ref) for i, ref in zip(ids, references)])


def main() -> None:
    p = params.load()
    split = data.load_prepared(p.generate.split)
    ids, references = split["id"], split["summary"]
    results = {}
    for model in MODELS:
        path = PREDICTIONS / f"{model}.jsonl"
        results[model] = score_model(predictions_by_id(path), ids, references, path)
        print(model, results[model])
    write_json(Path("metrics/rouge.json"), results)

    table = pd.DataFrame([{"model": m, "metric": k, "label": f"{m} {k}", "score": v} for m, s in results.items() for k, v in s.items()])
    write_text(Path("plots/rouge.csv"), table.to_csv(index=False))
    plots.rouge_bars(table, Path("plots/rouge.png"))


if __name__ == "__main__":
    run(main)
