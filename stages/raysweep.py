"""A sweep on a Ray cluster, every run a DVC experiment of this repository (docs/scale.md).

    ray start --head --port 6379 --num-gpus 8                    # once, on the head machine (others: --address)
    git push && python -m stages.raysweep --address HEAD:6379 -S 'lora.r=4,8,16' -S 'train_lora.learning_rate=1e-3,3e-3'

Each run is a Ray task holding sweep.gpus_per_run GPUs of params.yaml (Ray sets its CUDA_VISIBLE_DEVICES), on
any machine of the cluster: it clones the launch commit from the git remote, runs `dvc exp run --pull -n NAME
-S ...`, pushes the outputs to the DVC remote and then the experiment to the git remote. This command pulls
them back, so `dvc exp show` and `python -m stages.sweep` show them as local runs. Runs that exist with the
same params are skipped; a run whose machine dies is retried; a run that fails is reported and the others go on.
"""
import argparse
import os
import sys
from pathlib import Path

from .experiments import grid, origin, raylaunch, raysummary, sweepplan
from .io import files, params
from .io.errors import ParamsError, UserError, run
from .io.text import terminal
from .scoring import rouge

COMMAND = "python -m stages.raysweep"


def launch_settings(args) -> dict:
    """GPUs and CPUs per run and retries: params.yaml's `sweep` section, an option given here in place of its key."""
    flags = {"gpus_per_run": args.gpus_per_run, "cpus_per_run": args.cpus_per_run, "retries": args.retries}
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        sweep = params.read_section("sweep", **given)
    except ParamsError as error:
        key = error.key.removeprefix("sweep.")
        if key in given:  # the option's value, not the file's: name the option
            raise UserError(f"--{key.replace('_', '-')}{str(error).split(error.key, 1)[1]}") from None
        raise
    return {"gpus": sweep.gpus_per_run, "cpus": sweep.cpus_per_run, "retries": sweep.retries}


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    cli.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUES",
                     help="as `dvc exp run --queue -S`: KEY=A,B,C or KEY=range(1,5) is swept; several -S give "
                          "every combination")
    cli.add_argument("--address", default=os.environ.get("RAY_ADDRESS") or "auto",
                     help="the Ray head, HOST:PORT (default $RAY_ADDRESS, else auto: a cluster started here)")
    cli.add_argument("--gpus-per-run", type=float, help="GPUs each run holds (default: params.yaml sweep.gpus_per_run)")
    cli.add_argument("--cpus-per-run", type=float, help="CPUs each run holds (default: sweep.cpus_per_run)")
    cli.add_argument("--retries", type=int,
                     help="attempts after a run's worker or machine dies (default: sweep.retries); a run that fails "
                          "is not retried")
    cli.add_argument("--prefix", default="ray", help="experiment names are PREFIX-<digest of the settings>")
    cli.add_argument("--git-remote", default="origin", help="the git remote every machine clones (default origin)")
    cli.add_argument("--model", choices=("base", "full", "lora"), default="lora", help="whose score progress shows")
    cli.add_argument("--metric", choices=rouge.KEYS, default="rougeL", help="the score progress shows")
    cli.add_argument("--connect-timeout", type=float, default=60.0, help="seconds to wait for the cluster")
    cli.add_argument("--no-cache", action="store_true",
                     help="pull back the experiments without their outputs (dvc exp pull --no-cache)")
    cli.add_argument("--dry-run", action="store_true", help="list the runs and which exist; start nothing")
    cli.add_argument("--summary", type=Path, help="also write every run's outcome here as JSON")
    cli.add_argument("--force", action="store_true", help="replace --summary's file even if this did not write it")
    args = cli.parse_args(argv)
    prefix = grid.check_prefix(args.prefix)
    if args.summary:
        files.target(args.summary, "--summary", args.force)
    grid.expand(args.set_param)  # a typo in -S stops here, before any git or DVC work
    point = origin.launch_point(args.git_remote)
    limits = launch_settings(args)  # from the launch commit's params.yaml: the work tree is that commit
    origin.dvc_remote()
    base = grid.read_params(origin.git("show", f"{point['commit']}:params.yaml"))
    runs_ = sweepplan.plan(args.set_param, prefix, point, base)  # settings that do not apply stop before DVC starts
    sweepplan.skip_known(runs_, sweepplan.known_experiments(args.git_remote, point["commit"], args.model, args.metric))
    queued = [r for r in runs_ if r["status"] == "queued"]
    print(terminal(f"{len(runs_)} run(s) from commit {point['commit'][:10]}: {len(queued)} to run, "
                   f"{len(runs_) - len(queued)} already done{sweepplan.shared(runs_)}"))
    if args.dry_run:
        print(raysummary.summary(runs_, args.model, args.metric))
        return
    interrupted = False
    if queued:
        raylaunch.connect(args.address, args.connect_timeout)
        try:
            raylaunch.launch(runs_, limits["gpus"], limits["cpus"], limits["retries"], args.model, args.metric,
                             show=lambda line: print(terminal(line), flush=True))
        except KeyboardInterrupt:
            interrupted = True
    done = [r["name"] for r in runs_ if r["status"] == "done"]
    print(raysummary.summary(runs_, args.model, args.metric), flush=True)
    if args.summary:
        raysummary.write(args.summary, runs_, COMMAND)
    raylaunch.pull(args.git_remote, done, cache=not args.no_cache)
    if interrupted:
        print(f"interrupted: {len(done)} run(s) finished and pulled: {' '.join(done) or 'none'}", file=sys.stderr)
        sys.exit(130)
    if any(r["status"] in ("failed", "cancelled") for r in runs_):
        sys.exit(1)


if __name__ == "__main__":
    run(main, sys.argv[1:])
