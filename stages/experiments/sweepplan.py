"""The runs of a sweep on a Ray cluster: one per combination of `-S` settings, each with its name, label and
params, checked as the stages would check them, and marked skipped where an experiment of the commit has them."""
from . import grid, origin, raylaunch, runs
from ..io import params
from ..io.errors import ParamsError, UserError

METRICS = ("metrics/rouge.json", "metrics/efficiency.json")  # read back from each run for the progress lines


def plan(settings: list[str], prefix: str, point: dict, base: dict) -> list[dict]:
    """A run per combination of settings: its name, settings and the params it will have."""
    out, names = [], set()
    for each in grid.expand(settings):
        name = grid.name(prefix, each)
        if name in names:
            continue  # the same settings twice in the grid: one run
        names.add(name)
        values = grid.planned_params(base, each)
        _check(values, each, base)
        out.append({"name": name, "settings": each, "status": "queued", "params": runs.flat_params(values),
                    "spec": {"name": name, "settings": each, "commit": point["commit"], "git_url": point["git_url"],
                             "identity": point["identity"], "metrics": METRICS}})
    swept = {key for key in {_key(s) for r in out for s in r["settings"]}
             if len({s for r in out for s in r["settings"] if _key(s) == key}) > 1}
    for run_ in out:  # what tells the runs apart; the settings all runs share are said once, at the start
        run_["label"] = " ".join(s for s in run_["settings"] if _key(s) in swept) or " ".join(run_["settings"])
        run_["shared"] = [s for s in run_["settings"] if _key(s) not in swept]
    return out


def _check(values: dict, settings: list[str], base: dict) -> None:
    """A run whose params the stages would refuse is refused here, before the cluster runs it; checked where the
    commit's own params.yaml passes the stages' checks (a project of other stages is left to them)."""
    try:
        params.parse(values)
    except ParamsError as error:
        try:
            params.parse(base)
        except UserError:
            return
        raise UserError(f"the run with {' '.join(settings)} would stop at once: {error}") from None


def skip_known(runs_: list[dict], known: list[dict]) -> None:
    """Mark `skipped` every run an experiment of the commit (`known`: {name, params, score}) has the params of."""
    for run_ in runs_:
        same = next((k for k in known if k["params"] == run_["params"]), None)
        if any(k["name"] == run_["name"] and k["params"] != run_["params"] for k in known):
            raise UserError(f"an experiment named {run_['name']} with other params already exists; sweep with "
                            "another --prefix rather than replace it.")
        if same:
            run_.update(status="skipped", existing=same["name"], score=same.get("score"))


def shared(runs_: list[dict]) -> str:
    common = runs_[0]["shared"] if len(runs_) > 1 else []
    return f"; every run with {' '.join(common)}" if common else ""


def _key(setting: str) -> str:
    return setting.partition("=")[0]


def known_experiments(remote: str, commit: str, model: str, metric: str) -> list[dict]:
    """Every experiment of `commit`, local or on the git remote (the remote's refs are fetched, not their
    outputs), with its flat params and score."""
    # the remote's experiment refs of this commit, as `dvc exp pull --no-cache` fetches them (git refs only);
    # never forced: a local experiment of the same name stays as it is
    refs = f"refs/exps/{commit[:2]}/{commit[2:]}/"
    origin.git("fetch", "--quiet", remote, f"{refs}*:{refs}*", timeout=origin.GIT_TIMEOUT, check=False)
    known = []
    for state in runs.states(runs.exp_show(["--rev", commit])):
        if state.get("name") and state.get("rev") not in (commit, "workspace"):
            known.append({"name": state["name"], "params": runs.params(state),
                          "score": raylaunch.state_score(state, model, metric)})
    return known
