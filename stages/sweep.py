"""ROUGE and cost against one swept param, from the experiments DVC knows about, compared honestly.

    dvc exp run --queue -S 'lora.r=4,8,16,32' && dvc queue start   # then, once the queue is done:
    python -m stages.sweep [--param lora.r] [--model lora] [--mode mean_ref] [-A] [--json saved.json]

Runs are grouped by every param except the swept one and the seeds, and by the code (the .py deps) they
ran: only runs whose other params and code all match
are drawn as one sweep; other groups are kept apart and named by the params that differ. Runs that differ
only in seeds are replicates: averaged, with their spread. Reads `dvc exp show --json` for HEAD and every
commit experiments were made from (`-A`: every commit), or a saved copy; runs left out are counted in one
line; writes plots/sweep.png (ROUGE against the param), plots/sweep_cost.png (ROUGE against trainable
parameters, training time and peak memory) and plots/sweep.csv.
"""
import argparse
import statistics
import sys
from pathlib import Path

from .scoring import rouge
from .experiments import runs as dvc_runs
from .io import files
from .io.errors import UserError, run
from .io.files import write_text
from .io.text import csv_frame, terminal

OUT = Path("plots/sweep")
OUTPUTS = (OUT.with_suffix(".csv"), OUT.with_suffix(".png"), OUT.parent / "sweep_cost.png")
# Replicates differ only in these. Not data.seed (it picks the dialogues), nor evaluate.seed (it moves the
# intervals, not the score: runs differing in it are the same run, kept apart).
SEEDS = ("train_full.seed", "train_lora.seed")


def collect(exp_show: list[dict], param: str, model: str, mode: str) -> tuple[list[dict], dict[str, list[str]]]:
    """One row per finished run: name, rev, timestamp, the swept value, its other params, its metrics; and
    the runs left out, by reason: {reason: [names]}."""
    rows, left, seen = [], {}, set()
    for state in dvc_runs.states(exp_show):
        rev = str(state.get("rev") or "?")
        name = str(state.get("name") or rev[:7])
        if rev == "workspace" or rev in seen:
            continue  # the workspace is not a run; -A lists a commit once per branch that holds it
        seen.add(rev)
        flat = dvc_runs.params(state)
        if param not in flat:
            left.setdefault(f"with no param {param} in params.yaml", []).append(name)
            continue
        value = flat[param]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not dvc_runs.finite(value):
            left.setdefault(f"with {param} not a finite number", []).append(name)
            continue
        try:
            values = dvc_runs.metrics(state, model, mode)
        except KeyError as missing:
            left.setdefault(f"with no finished results ({missing.args[0]})", []).append(name)
            continue
        # the code a run ran belongs with its params: a sweep across a code change is not a sweep of the param
        rows.append({"name": name, "rev": rev, "value": value,
                     "timestamp": str(dvc_runs.data(state).get("timestamp") or ""),
                     "params": flat | dvc_runs.code(state), **values})
    return rows, left


def left_out(left: dict[str, list[str]], total: int, shown: int = 3) -> str:
    """One line for every run left out: how many, and why, naming the first few of each reason (`-A` lists
    every commit, most of them made before the pipeline or the param existed)."""
    count = sum(len(names) for names in left.values())
    parts = [f"{len(names)} {reason}: " + ", ".join(names[:shown]) + (f" and {len(names) - shown} more"
                                                                      if len(names) > shown else "")
             for reason, names in sorted(left.items(), key=lambda item: -len(item[1]))]
    return f"left out {count} of {total} runs: " + "; ".join(parts)


def context(row: dict, param: str, seeds) -> tuple:
    return tuple(sorted((k, v) for k, v in row["params"].items() if k != param and k not in seeds))


def differences(a: tuple, b: tuple) -> list[str]:
    """'key x -> y' for each param that differs between two contexts."""
    da, db = dict(a), dict(b)
    return [f"{k} {da.get(k)!r} -> {db.get(k)!r}" for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]


def groups(rows: list[dict], param: str, seeds=SEEDS) -> list[dict]:
    """Runs with the same other params, largest group first; each names how it differs from the first."""
    by_context: dict[tuple, list[dict]] = {}
    for row in rows:
        by_context.setdefault(context(row, param, seeds), []).append(row)
    newest_first = sorted(by_context.items(), key=lambda item: max(r["timestamp"] for r in item[1]), reverse=True)
    # the sweep is the group with most distinct values of the param, then most runs, then the newest
    ordered = sorted(newest_first, key=lambda item: (-len({r["value"] for r in item[1]}), -len(item[1])))
    first = ordered[0][0] if ordered else ()
    return [{"runs": members, "differs": differences(first, key)} for key, members in ordered]


def replicates(members: list[dict], seeds=SEEDS) -> tuple[list[dict], list[str]]:
    """One point per swept value: replicates (different seeds) averaged with their spread; a run repeated
    with the same seeds counts once, the newest; the names of the older repeats come back beside."""
    repeats, points = [], []
    by_value: dict = {}
    for row in members:
        by_value.setdefault(row["value"], []).append(row)
    for value in sorted(by_value, key=_order):
        by_seeds: dict[tuple, dict] = {}
        for row in sorted(by_value[value], key=lambda r: r["timestamp"]):
            key = tuple(row["params"].get(s) for s in seeds)
            if key in by_seeds:
                repeats.append(by_seeds[key]["name"])
            by_seeds[key] = row
        chosen = list(by_seeds.values())
        point = {"value": value, "n": len(chosen), "names": " ".join(r["name"] for r in chosen)}
        for key in (*rouge.KEYS, *dvc_runs.COSTS):
            numbers = [r[key] for r in chosen if isinstance(r.get(key), (int, float))]
            point[key] = statistics.fmean(numbers) if numbers else None
            point[f"{key}_sd"] = statistics.stdev(numbers) if len(numbers) > 1 else None
        for key in rouge.KEYS:  # one run: its bootstrap interval; replicates: their min and max
            if len(chosen) == 1:
                point[f"{key}_low"], point[f"{key}_high"] = chosen[0][f"{key}_low"], chosen[0][f"{key}_high"]
            else:
                point[f"{key}_low"] = min(r[key] for r in chosen)
                point[f"{key}_high"] = max(r[key] for r in chosen)
        points.append(point)
    return points, repeats


def _order(value):
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def frontier(points: list[dict], cost: str, metric: str) -> list[dict]:
    """Points no other point beats on both cost (lower) and ROUGE (higher), cheapest first."""
    usable = sorted((p for p in points if p.get(cost) is not None), key=lambda p: (p[cost], -p[metric]))
    out, best = [], float("-inf")
    for point in usable:
        if point[metric] > best:
            out.append(point)
            best = point[metric]
    return out


def long_table(series: list[dict], param: str):
    import pandas as pd

    return pd.DataFrame([{"group": s["label"], param: p["value"], "runs": p["n"], "names": p["names"],
                          "metric": key, "score": p[key], "sd": p[f"{key}_sd"], "low": p[f"{key}_low"],
                          "high": p[f"{key}_high"], **{cost: p[cost] for cost in dvc_runs.COSTS}}
                         for s in series for p in s["points"] for key in rouge.KEYS])


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(prog="python -m stages.sweep", description=__doc__.split("\n\n")[0])
    cli.add_argument("--param", default="lora.r", help="the swept param, as in params.yaml (default lora.r)")
    cli.add_argument("--model", choices=("base", "full", "lora"), default="lora", help="whose ROUGE (default lora)")
    cli.add_argument("--mode", choices=rouge.MODES, default=dvc_runs.PRIMARY,
                     help=f"ROUGE scoring mode (default {dvc_runs.PRIMARY}, the only one metrics/rouge.json holds)")
    cli.add_argument("--metric", choices=rouge.KEYS, default="rougeL", help="the ROUGE variant of the cost view")
    cli.add_argument("-A", "--all-commits", action="store_true",
                     help="every commit of the repository and its experiments (dvc exp show -A); by default HEAD "
                          "and every commit an experiment was made from")
    cli.add_argument("-a", "--all-branches", action="store_true", help="experiments of every branch tip (-a)")
    cli.add_argument("--json", type=Path, help="a saved `dvc exp show --json` output (default: run it now)")
    cli.add_argument("--force", action="store_true",
                     help=f"replace {', '.join(map(str, OUTPUTS))} even if this command did not write them")
    args = cli.parse_args(argv)
    for path in OUTPUTS:  # before any work: never over a file the user made
        files.target(path, "output", args.force)
    if args.json:
        if not args.json.is_file():
            raise UserError(f"{args.json} does not exist; save `dvc exp show --json > {args.json}` first.")
        try:
            saved = args.json.read_bytes()
        except OSError as error:
            raise UserError(f"cannot read {args.json}: {error.strerror}.") from None
        exps = dvc_runs.parse(saved, str(args.json))
    elif args.all_commits:
        exps = dvc_runs.exp_show(["-A"])
    else:  # HEAD and every commit experiments were made from, not HEAD's experiments alone
        revs = [flag for rev in ["HEAD", *dvc_runs.baselines()] for flag in ("--rev", rev)]
        exps = dvc_runs.exp_show(revs + ["-a"] * args.all_branches)
    rows, left = collect(exps, args.param, args.model, args.mode)
    total = len(rows) + sum(len(names) for names in left.values())
    series = []
    for number, group in enumerate(groups(rows, args.param), start=1):
        points, repeats = replicates(group["runs"])
        if repeats:
            left.setdefault("repeating a newer run with the same params, code and seeds (the newer is used)",
                            []).extend(repeats)
        label = "sweep" if number == 1 else "apart: " + "; ".join(group["differs"])
        series.append({"label": label, "points": points})
    if left:
        print(terminal(f"note: {left_out(left, total)}"))  # run names are data: one line, no escapes
    if not series or len(series[0]["points"]) < 2:
        raise UserError(f"found no two finished runs that differ in {args.param} and match in every other param "
                        f"(seeds aside); a sweep needs two or more. Run `dvc exp run --queue -S "
                        f"'{args.param}=A,B'` and `dvc queue start`, wait for `dvc queue status` to show them "
                        "done, then run this again." + _apart(series))
    from .experiments import sweep_plots  # matplotlib: only loaded when there is something to draw

    for path in OUTPUTS:  # again: files may have appeared there while `dvc exp show` ran
        files.target(path, "output", args.force)
    table, by_param, cost = OUTPUTS
    write_text(table, csv_frame(long_table(series, args.param)).to_csv(index=False))  # no cell a spreadsheet runs
    files.sign(table, "python -m stages.sweep")
    sweep_plots.by_param(series, args.param, f"{args.model} {args.mode}", by_param)
    files.sign(by_param, "python -m stages.sweep")
    sweep_plots.cost(series[0]["points"], args.metric, f"{args.model} {args.mode}", args.param,
                     {name: frontier(series[0]["points"], name, args.metric) for name in dvc_runs.COSTS}, cost)
    files.sign(cost, "python -m stages.sweep")
    print(report(series, args.param))
    print(terminal(f"wrote {by_param}, {cost} and {table}"))


def _apart(series) -> str:
    if len(series) < 2:
        return ""
    return " The runs found differ in other params too: " + " | ".join(s["label"] for s in series[1:]) + "."


def report(series: list[dict], param: str) -> str:
    lines = []
    for s in series:
        lines.append(f"[{s['label']}]")
        for p in s["points"]:
            spread = "" if p["n"] == 1 else f"  ({p['n']} seeds, sd " + ", ".join(
                f"{p[f'{key}_sd']:.4f}" for key in rouge.KEYS) + ")"
            trainable = f"{p['trainable_params']:>12,.0f}" if p["trainable_params"] is not None else f"{'?':>12}"
            lines.append(f"  {param}={p['value']!s:<6} trainable {trainable}  "
                         + "  ".join(f"{key} {p[key]:.4f}" for key in rouge.KEYS) + spread + f"  [{p['names']}]")
    return "\n".join(map(terminal, lines))  # names, labels and values are data: no escape or line of their own


if __name__ == "__main__":
    run(main, sys.argv[1:])
