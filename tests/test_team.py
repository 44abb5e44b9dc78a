"""A team on several machines: experiments run on two machines travel through a shared git remote and DVC
remote to a third, which compares them with stages.compare without training anything."""
import json
import sys

from project import run
from remotes import EXPERIMENT, clone, digests, experiment_params, stages_run, use_remote

OTHER = "lora-alpha16"  # the second machine's experiment


def test_two_machines_push_experiments_and_a_third_compares_them_without_training(trained_with_experiment,
                                                                                 tmp_path):
    """Machine A is the shared run, which made experiment lora-r4 (lora.r=4); machine B is a clone that makes
    lora-alpha16 (lora.alpha=16); machine C is a fresh clone that only pulls and compares."""
    a = trained_with_experiment
    origin, storage = a.parent / "origin.git", tmp_path / "team-storage"
    use_remote(a, "team", str(storage), default=False)
    run(["dvc", "push", "-q", "-r", "team"], a)  # main's outputs: B pulls them instead of rerunning prepare
    run(["dvc", "exp", "push", "--force", "-r", "team", "origin", EXPERIMENT], a)

    b = clone(origin, tmp_path / "b")
    use_remote(b, "storage", str(storage))  # each machine's copy of the team's remote (or commit its url)
    made = run(["dvc", "exp", "run", "--pull", "-n", OTHER, "-S", "lora.alpha=16"], b)
    assert stages_run(made.stdout) == ["train_lora", "generate@lora", "evaluate"], made.stdout
    run(["dvc", "exp", "push", "origin", OTHER], b)

    c = clone(origin, tmp_path / "c")
    use_remote(c, "storage", str(storage))
    listed = run(["dvc", "exp", "list", "--name-only", "origin"], c).stdout.split()
    assert {EXPERIMENT, OTHER} <= set(listed), listed
    for name in (EXPERIMENT, OTHER):
        run(["dvc", "exp", "pull", "origin", name], c)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], c).stdout)
    assert experiment_params(shown, EXPERIMENT)["r"] == 4 and experiment_params(shown, OTHER)["alpha"] == 16

    compared = run([sys.executable, "-m", "stages.compare", EXPERIMENT, OTHER, "--json"], c)
    result = json.loads(compared.stdout)
    assert (result["a"], result["b"]) == (EXPERIMENT, OTHER)
    assert result["params_diff"] == {"lora.alpha": [32, 16], "lora.r": [4, 8]}
    assert set(result["models"]) == {"base", "full", "lora"}
    assert all(result["models"][model]["mean_ref"][f"{key}_diff"] == 0 for model in ("base", "full")
               for key in ("rouge1", "rouge2", "rougeL", "rougeLsum"))
    # C trained nothing: it never even checked out a model (models/ holds only the .gitignore DVC commits)
    assert [p.name for p in (c / "models").iterdir()] == [".gitignore"]

    # Either experiment is whole on C: applied, every output is there and nothing would rerun.
    run(["dvc", "exp", "apply", OTHER], c)
    assert "up to date" in run(["dvc", "status"], c).stdout
    assert stages_run(run(["dvc", "repro"], c).stdout) == []
    assert digests(c, ["models/lora"]) == digests(b, ["models/lora"])
