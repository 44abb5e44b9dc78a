"""ROUGE and trainable parameters against LoRA rank, from the experiments DVC knows about.

    dvc exp run --queue -S 'lora.r=4,8,16,32' && dvc queue start   # then, once the queue is done:
    python -m stages.sweep [--json saved.json] [--mode mean_ref]

Reads `dvc exp show --json` (or a saved copy of it) and writes plots/sweep.png and plots/sweep.csv.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from . import rouge
from .errors import UserError, run
from .files import write_text

ROUGE_FILE = "metrics/rouge.json"
TRAIN_FILE = "metrics/train_lora.json"
OUT = Path("plots/sweep")


def _states(entries):
    """Every experiment state in the JSON, depth first: commits, their experiments, and theirs."""
    for entry in entries or []:
        yield entry
        for group in entry.get("experiments") or []:
            yield from _states(group.get("revs"))


def _data(state, kind, path):
    found = ((state.get("data") or {}).get(kind) or {}).get(path) or {}
    return found.get("data")


def runs(exp_show: list[dict], mode: str) -> tuple[list[dict], list[str]]:
    """One row per finished run with a LoRA rank, ROUGE and trainable parameters, plus notes on what was
    left out. The uncommitted workspace is left out; of several runs with the same rank the newest counts."""
    rows, notes = {}, []
    for state in _states(exp_show):
        name = state.get("name") or state.get("rev", "?")[:7]
        if state.get("rev") == "workspace":
            continue
        params, scores, train = (_data(state, "params", "params.yaml"), _data(state, "metrics", ROUGE_FILE),
                                 _data(state, "metrics", TRAIN_FILE))
        try:
            rank = params["lora"]["r"]
            values = scores["lora"][mode]
            row = {"name": name, "rank": int(rank), "timestamp": (state.get("data") or {}).get("timestamp") or "",
                   "trainable_params": train["trainable_params"],
                   **{key: values[key] for key in rouge.KEYS},
                   **{f"{key}_{end}": values.get(f"{key}_{end}") for key in rouge.KEYS for end in ("low", "high")}}
        except (KeyError, TypeError):
            notes.append(f"{name}: no finished results (lora.r, {ROUGE_FILE} lora.{mode}, {TRAIN_FILE}); left out")
            continue
        previous = rows.get(row["rank"])
        if previous is None or row["timestamp"] > previous["timestamp"]:
            if previous is not None:
                notes.append(f"rank {row['rank']}: {row['name']} is newer than {previous['name']}; using it")
            rows[row["rank"]] = row
        else:
            notes.append(f"rank {row['rank']}: {previous['name']} is newer than {row['name']}; using it")
    return sorted(rows.values(), key=lambda r: r["rank"]), notes


def long_table(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame([{"rank": r["rank"], "name": r["name"], "trainable_params": r["trainable_params"],
                          "metric": key, "score": r[key], "low": r[f"{key}_low"], "high": r[f"{key}_high"]}
                         for r in rows for key in rouge.KEYS])


def exp_show() -> list[dict]:
    try:
        done = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], capture_output=True,
                              text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise UserError("`dvc exp show --json` took over 10 minutes; save its output and pass it with --json.")
    if done.returncode != 0:
        raise UserError(f"`dvc exp show --json` failed: {done.stderr.strip()[-800:]}")
    return parse(done.stdout, "dvc exp show --json")


def parse(text: str, source: str) -> list[dict]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{source}: not valid JSON ({error}); save the output of `dvc exp show --json`.") from None
    if not isinstance(value, list):
        raise UserError(f"{source}: expected the list `dvc exp show --json` prints, got {type(value).__name__}.")
    return value


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(prog="python -m stages.sweep", description=__doc__.split("\n\n")[0])
    cli.add_argument("--json", type=Path, help="a saved `dvc exp show --json` output (default: run it now)")
    cli.add_argument("--mode", choices=rouge.MODES, default="mean_ref", help="ROUGE scoring mode to draw")
    args = cli.parse_args(argv)
    if args.json:
        if not args.json.is_file():
            raise UserError(f"{args.json} does not exist; save `dvc exp show --json > {args.json}` first.")
        exps = parse(args.json.read_text(encoding="utf-8"), str(args.json))
    else:
        exps = exp_show()
    rows, notes = runs(exps, args.mode)
    for note in notes:
        print(f"note: {note}")
    if len(rows) < 2:
        raise UserError(f"found {len(rows)} finished run(s) with distinct lora.r; a sweep needs two or more. Run "
                        "`dvc exp run --queue -S 'lora.r=4,8,16,32'` and `dvc queue start`, wait for "
                        "`dvc queue status` to show them done, then run this again.")
    from . import plots  # matplotlib: only loaded when there is something to draw

    table = long_table(rows)
    write_text(OUT.with_suffix(".csv"), table.to_csv(index=False))
    plots.sweep(table, OUT.with_suffix(".png"))
    for row in rows:
        print(f"r={row['rank']:<4} {row['name']:<24} trainable {row['trainable_params']:>12,}  "
              + "  ".join(f"{key} {row[key]:.4f}" for key in rouge.KEYS))
    print(f"wrote {OUT.with_suffix('.png')} and {OUT.with_suffix('.csv')}")


if __name__ == "__main__":
    run(main, sys.argv[1:])
