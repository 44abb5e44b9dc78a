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
from pathlib import Path

from .experiments.forest import forest
from .experiments.pairing import compare_runs
from .experiments.revision import Run
from .experiments.verdict import table
from .io import files, params
from .io.errors import UserError, run
from .io.text import terminal
from .reporting.report import PRIMARY
from .scoring import rouge


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
