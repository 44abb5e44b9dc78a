"""The README's tables, from the latest results JSON: python benchmarks/table.py [cpu|cuda]"""
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def mib(n) -> str:
    return f"{n / 2**20:,.0f}"


def train_table(record: dict) -> list[str]:
    lines = ["| group | configuration | batch | dialogues | samples/s | tokens/s | padding | peak memory (MiB) | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in record["runs"]:
        name = run.get("lever") or f"{run['recipe']} {run['method']}"
        if run["subset"] != "all":
            name += f", {run['subset']} dialogues"
        padding = "-" if run["padding_fraction"] is None else f"{run['padding_fraction']:.0%}"
        lines.append(f"| {run['group']} | {name} | {run['batch_size']} | {run['samples']} | {run['samples_per_s']:.3f} "
                     f"| {run['tokens_per_s']:,.0f} | {padding} | {mib(run['peak_memory_bytes'])} "
                     f"| {run.get('load_average', ['-'])[0]} |")
    return lines


def generate_table(record: dict) -> list[str]:
    lines = ["| path | batch | dialogues/s | test rows/s | seconds | load |", "|---|---|---|---|---|---|"]
    for run in record["runs"]:
        lines.append(f"| {run['path']} | {run['batch_size']} | {run['dialogues_per_s']:.3f} | {run['rows_per_s']:.3f} "
                     f"| {run['seconds']:.1f} | {run['load_average'][0]} |")
    return lines


def precision_table(record: dict) -> list[str]:
    peak = {k: max(record["matmul_peak"][k]["flops_per_s"], record["matmul_peak_end"][k]["flops_per_s"])
            for k in record["matmul_peak"]}
    lines = [f"matmul peak measured: fp32 {peak['fp32'] / 1e9:,.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:,.0f} GFLOP/s", "",
             "| what | precision | rate (median, min-max over runs) | MFU (median, min-max) | bf16 speedup (median of pairs, min-max) |",
             "|---|---|---|---|---|"]
    for name, unit in (("train_full", "samples/s"), ("train_lora", "samples/s"), ("generate", "dialogues/s")):
        figure = record["figures"][name]
        for precision in ("fp32", "bf16"):
            if precision not in figure:
                continue
            rate = next(v for k, v in figure[precision].items() if k != "mfu")
            mfu = figure[precision]["mfu"]
            pairs = figure.get("bf16_speedup_pairs") if precision == "bf16" else None
            lines.append(f"| {name.replace('_', ' ')} | {precision} | {rate['median']:.3g} {unit} ({rate['min']:.3g}-"
                         f"{rate['max']:.3g}) | {mfu['median']:.1%} ({mfu['min']:.1%}-{mfu['max']:.1%}) | "
                         + (f"{pairs['median']:.2f}x ({pairs['min']:.2f}-{pairs['max']:.2f})" if pairs else "") + " |")
    return lines


def main(device="cpu") -> None:
    for name, table in (("train", train_table), ("generate", generate_table), ("precision", precision_table)):
        path = RESULTS / f"{name}_{device}.json"
        if not path.is_file():
            print(f"({path.name}: not run yet)\n")
            continue
        record = json.loads(path.read_text())
        machine = record["machine"]
        print(f"{name}: {record['settings'].get('shape')} shape, {machine['device']} ({machine['gpu'] or machine['cpu']}, "
              f"{machine['cpu_count']} cores), torch {machine['torch']}, transformers {machine['transformers']}, "
              f"{record['started']}; load average {record['load_average_start']} -> {record['load_average_end']}\n")
        print("\n".join(table(record)) + "\n")
        print("figures: " + json.dumps(record["figures"]) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
