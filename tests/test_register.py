"""stages.register: the artifacts dvc.yaml declares, their meta from the run's files, GTO tags, and versions that
`dvc artifacts get` brings back byte for byte from a bare git remote and a DVC remote."""
import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

# dvc's import binds its log handlers to the sys.stderr of that moment (colorama wraps it): imported at collection,
# not first inside a test, whose captured stderr is closed when a later test's DVC warning is written to it
import dvc  # noqa: F401
import pytest
import yaml

from project import ROOT, clone_of, env, run
from stages import register
from stages.io.errors import UserError
from stages.registry import artifacts, fetchable, tags
from stages.shipping import stale

REGISTER = [sys.executable, "-m", "stages.register"]
META = {"method": "lora", "version": "v1.0.0", "base_commit": None, "rouge": {"rouge1": 0.5}}


def test_the_projects_artifacts_are_trained_models_with_names_dvc_accepts():
    from dvc.repo.artifacts import name_is_compatible

    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = {next(iter(out)) if isinstance(out, dict) else out
            for stage in spec["stages"].values() for out in stage.get("outs", [])}
    assert set(spec["artifacts"]) == {"full", "lora"}
    for name, artifact in spec["artifacts"].items():
        assert name_is_compatible(name)
        assert artifact["path"] in outs and artifacts.TRAINED[artifact["path"]] == name
        assert artifact["type"] == "model" and artifact["desc"] and artifact["labels"]
        assert artifact["meta"] == {"method": name}  # the rest is written per version, never committed by hand


@pytest.mark.parametrize("name", ["Lora.v2", "lora-", "-lora", "my lora", "lora@v1", "lora#prod", "dvc.yaml:lora"])
def test_a_name_dvc_rejects_is_one_clear_error(in_tmp, capsys, name):
    from dvc.repo.artifacts import name_is_compatible

    from stages.io.errors import run as run_main

    assert not name_is_compatible(name)  # DVC's own verdict
    (in_tmp / ".git").mkdir()
    (in_tmp / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": {name: {"path": "models/lora", "type": "model"}}}))
    with pytest.raises(SystemExit) as exit_:
        run_main(register.main, ["--", name, "v1.0.0"])  # "--": "-lora" is not an option
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"error: {name!r} cannot be a DVC artifact name: DVC allows letters, digits")


def test_names_versions_and_stages_are_checked_before_any_work(in_tmp):
    (in_tmp / ".git").mkdir()
    (in_tmp / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    for argv, message in ((["base", "v1.0.0"], r"declares no artifact 'base' \(it declares: full, lora\)"),
                          (["lora", "1.0.0"], r"'1.0.0' is not of the form vMAJOR.MINOR.PATCH"),
                          (["lora", "v1.0"], "not of the form"),
                          (["lora", "v1.0.0", "--stage", "pr od"], "'pr od' is not a valid stage name"),
                          # an empty stage was taken for no stage at all: a version registered instead of a refusal
                          (["lora", "v1.0.0", "--stage", ""], "'' is not a valid stage name")):
        with pytest.raises(UserError, match=message):
            register.main(argv)
    with pytest.raises(UserError, match="run this from the project's folder"):
        (in_tmp / ".git").rmdir()
        register.main(["lora", "v1.0.0"])


@pytest.mark.parametrize("text", ["artifacts: [1, 2]\n", "artifacts:\n  lora: text\n", "artifacts: {lora: {path: [x]}}\n",
                                  "artifacts: {lora: {path: models/lora\n", "stages: {}\n\xff\n", "- a list\n"])
def test_a_dvc_yaml_that_is_no_artifacts_mapping_is_one_message(in_tmp, text):
    """Each was a traceback (TypeError, AttributeError, a YAML or Unicode error) before any check."""
    (in_tmp / ".git").mkdir()
    (in_tmp / "dvc.yaml").write_bytes(text.encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(UserError, match="dvc.yaml|artifact 'lora' has path"):
        register.main(["lora", "v1.0.0"])


def test_meta_replaces_only_the_artifacts_meta_lines(in_tmp):
    text = (ROOT / "dvc.yaml").read_text()
    (in_tmp / "dvc.yaml").write_text(text)
    assert artifacts.write_meta("lora", META)
    edited = (in_tmp / "dvc.yaml").read_text()
    before, after = text.splitlines(), edited.splitlines()
    assert after[:before.index("      method: lora")] == before[:before.index("      method: lora")]
    assert after[-len(before) + before.index("      method: lora") + 1:] == before[before.index("      method: lora") + 1:]
    assert "      base_commit: null" in after  # a local base model has no commit, and says so
    spec = yaml.safe_load(edited)
    assert spec["artifacts"]["lora"]["meta"] == META and spec["artifacts"]["full"]["meta"] == {"method": "full"}
    assert not artifacts.write_meta("lora", META)  # already so: nothing written, nothing to commit

    without = text.replace("    meta:\n      method: full\n", "")  # an artifact declared with no meta
    assert yaml.safe_load(artifacts.with_meta(without, "full", {"method": "full"}))["artifacts"] == \
        yaml.safe_load(text)["artifacts"]


def test_an_artifact_in_flow_style_is_refused_not_mangled(in_tmp):
    text = (ROOT / "dvc.yaml").read_text()
    start, end = text.index("  lora:\n    path: models/lora"), text.index("      method: lora\n") + 19
    flow = text[:start] + "  lora: {path: models/lora, type: model, meta: {method: lora}}\n" + text[end:]
    (in_tmp / "dvc.yaml").write_text(flow)
    with pytest.raises(UserError, match=r"could not rewrite artifacts.lora.meta in dvc.yaml in place"):
        artifacts.write_meta("lora", META)
    assert (in_tmp / "dvc.yaml").read_text() == flow
    inline = text.replace("    meta:\n      method: lora\n", "    meta: {method: lora}\n")
    assert artifacts.with_meta(inline, "lora", META) is None  # never a second `meta:` key beside it


def test_versions_are_gto_tags_and_a_deregistered_one_is_gone(in_tmp):
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        run(["git", *args], in_tmp)
    for tag in ("lora@v1.0.0", "lora@v1.2.0", "lora@v1.2.0!", "lora@v1.10.0", "full@v3.0.0", "lora#prod#1"):
        run(["git", "tag", "-a", "-m", tag, tag], in_tmp)
    run(["git", "tag", "lora-notes"], in_tmp)  # not GTO's: ignored
    found = tags.versions("lora")
    assert found == {"v1.0.0": "lora@v1.0.0", "v1.10.0": "lora@v1.10.0"}
    assert tags.newest(found) == "v1.10.0"  # semantic order, not text order
    assert tags.stage_tag("lora", "prod") == "lora#prod#1" and tags.stage_tag("full", "prod") is None


@pytest.fixture
def stubbed(in_tmp, monkeypatch):
    """The git side alone: a real repo and GTO's real tags, the pipeline checks and meta stubbed; `.run(digit)`
    commits a run whose models/lora hash is that digit 32 times."""
    from project import GIT_ENV

    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    (in_tmp / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    run(["git", "init", "-q", "-b", "main"], in_tmp)

    def new_run(digit: str) -> None:
        (in_tmp / "dvc.lock").write_text(yaml.safe_dump({"stages": {"train_lora": {"outs": [
            {"path": "models/lora", "md5": digit * 32 + ".dir"}]}}}))
        run(["git", "add", "-A"], in_tmp)
        run(["git", "commit", "-qm", f"run {digit}"], in_tmp)

    new_run("0")
    monkeypatch.setattr(register, "pipeline_state", lambda path: None)
    monkeypatch.setattr(fetchable, "check", lambda path, commit="HEAD": None)  # a promotion's check
    monkeypatch.setattr(artifacts, "meta", lambda artifact, version: dict(META, version=version))
    return SimpleNamespace(repo=in_tmp, run=new_run)


def test_a_refused_commit_leaves_dvc_yaml_clean_and_a_run_killed_before_tagging_tags_on_rerun(stubbed, monkeypatch):
    in_tmp = stubbed.repo
    hook = in_tmp / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho no commits today >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(UserError, match="no commits today"):
        register.main(["lora", "v1.0.0"])
    assert run(["git", "status", "--porcelain"], in_tmp).stdout == "" and not tags.versions("lora")

    hook.unlink()
    real = tags.register
    monkeypatch.setattr(tags, "register", lambda name, version: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # killed after the meta commit, before the tag
        register.main(["lora", "v1.0.0"])
    monkeypatch.setattr(tags, "register", real)
    commits = run(["git", "rev-list", "--count", "HEAD"], in_tmp).stdout
    register.main(["lora", "v1.0.0"])
    assert run(["git", "rev-list", "--count", "HEAD"], in_tmp).stdout == commits  # no second meta commit
    assert tags.versions("lora") == {"v1.0.0": "lora@v1.0.0"}
    assert tags.commit_of("lora@v1.0.0") == run(["git", "rev-parse", "HEAD"], in_tmp).stdout.strip()



def test_generated_with_is_the_engine_and_number_type_the_generate_stage_recorded(in_tmp):
    """An int8 CTranslate2 score was registered with nothing to tell it from a torch fp32 one."""
    (in_tmp / "metrics").mkdir()
    record = in_tmp / "metrics/generate_lora.json"
    for written, expected in (
            ({"engine": "ctranslate2", "compute_type": "int8", "compute_type_reason": "auto: ...", "device": "cpu",
              "threads": 2}, {"engine": "ctranslate2", "compute_type": "int8", "precision": None, "device": "cpu"}),
            ({"engine": "torch", "compute_type": "bfloat16", "precision": "bf16", "device": "cuda", "tf32": True},
             {"engine": "torch", "compute_type": "bfloat16", "precision": "bf16", "device": "cuda"}),
            ({"dialogues": 3}, None),  # no engine named: not a record to label a score with
            ([1, 2], None)):
        record.write_text(json.dumps(written))
        assert artifacts.generated_with("lora") == expected, written
    record.write_text("{not json")
    assert artifacts.generated_with("lora") is None and artifacts.generated_with("full") is None  # and no file

def prod_as_dvc_reads_it() -> str:
    """The commit `dvc artifacts get --stage prod` fetches: DVC's get_rev, the newest annotated tag by time."""
    from gto.tag import find
    from scmrepo.git import Git

    return find(name="lora", stage="prod", scm=Git("."))[-1].target


def test_rollback_build_metadata_and_no_remote(stubbed, capsys):
    """The rollback docs/registry.md gives was refused by GTO ("already in stage"); v1.0.0+build was registered
    beside v1.0.0; with no git remote, a `git push origin` line was printed all the same."""
    register.main(["lora", "v1.0.0", "--stage", "prod"])
    out, err = capsys.readouterr()
    assert out.splitlines() == ["tagged lora@v1.0.0 lora#prod#1"]  # no `share it: git push origin ...`
    assert "no git remote 'origin', so the tags are only here" in err
    stubbed.run("1")
    register.main(["lora", "v1.1.0", "--stage", "prod"])
    assert prod_as_dvc_reads_it() == tags.commit_of("lora@v1.1.0")
    capsys.readouterr()
    register.main(["lora", "v1.0.0", "--stage", "prod"])  # roll back
    assert capsys.readouterr().out.splitlines() == ["tagged lora#prod#3"]
    assert prod_as_dvc_reads_it() == tags.commit_of("lora@v1.0.0") and tags.stage_tag("lora", "prod") == "lora#prod#3"
    register.main(["lora", "v1.0.0", "--stage", "prod"])
    assert "is in prod already (tag lora#prod#3): nothing to do" in capsys.readouterr().out

    before = run(["git", "tag"], stubbed.repo).stdout
    for version in ("v1.0.0+build", "v9.0.0+1"):
        with pytest.raises(UserError, match=rf"{re.escape(version)!s}' has build metadata .*Give a version without"):
            register.main(["lora", version, "--stage", "prod"])
    assert run(["git", "tag"], stubbed.repo).stdout == before


def test_a_release_candidates_bytes_can_be_released_and_nothing_else_doubles(stubbed):
    """v1.0.0 of the bytes v1.0.0-rc.1 holds was refused ("holds these exact bytes already"): semantic
    versioning's own path from a candidate to its release was closed."""
    register.main(["lora", "v1.0.0-rc.1"])
    with pytest.raises(UserError, match="lora@v1.0.0-rc.1 holds these exact bytes already"):
        register.main(["lora", "v1.0.0-rc.2"])  # a second candidate of the same bytes is two names for one
    register.main(["lora", "v1.0.0"])  # its release
    assert set(tags.versions("lora")) == {"v1.0.0-rc.1", "v1.0.0"}
    with pytest.raises(UserError, match="lora@v1.0.0 holds these exact bytes already"):
        register.main(["lora", "v1.0.1"])


def test_a_stage_tag_never_shares_its_second_with_the_stages_previous_one(stubbed, monkeypatch):
    """DVC takes a stage's newest tag by tag time, in whole seconds: in a tie it took the first by name, and
    `lora#prod#10` sorts before `lora#prod#9`."""
    slept = []
    clock = iter([])
    monkeypatch.setattr(tags, "time", SimpleNamespace(sleep=slept.append, time=lambda: next(clock)))
    tags.later_than("lora", "prod")  # no prod tag yet: the clock is not even read
    run(["git", "tag", "-a", "-m", "v", "lora@v1.0.0"], stubbed.repo)
    run(["git", "tag", "-a", "-m", "prod", "lora#prod#1"], stubbed.repo)
    made = int(run(["git", "for-each-ref", "--format=%(creatordate:unix)", "refs/tags/lora#prod#1"],
                   stubbed.repo).stdout)
    clock = iter([made + 0.25, made + 0.25, made + 1.0])  # the same second, then the next
    tags.later_than("lora", "prod")
    assert slept == [0.75]
    clock = iter([made + 1.0])
    tags.later_than("lora", "prod")
    tags.later_than("lora", "staging")
    assert slept == [0.75]  # a later second, or another stage: no wait

def test_a_lightweight_tag_named_like_a_version_is_one_message(stubbed):
    """It gave three contradicting refusals: "registered already", GTO's "not registered", "holds these bytes"."""
    run(["git", "tag", "lora@v1.0.0"], stubbed.repo)
    for argv in (["lora", "v1.0.0"], ["lora", "v1.0.0", "--stage", "prod"], ["lora", "v1.1.0"]):
        with pytest.raises(UserError) as refused:
            register.main(argv)
        assert str(refused.value).startswith("lora@v1.0.0 is a lightweight git tag (made by `git tag` without -a)")
        assert "git tag -d 'lora@v1.0.0'" in str(refused.value)
    run(["git", "tag", "-d", "lora@v1.0.0"], stubbed.repo)
    register.main(["lora", "v1.0.0"])  # the advice works
    assert tags.versions("lora") == {"v1.0.0": "lora@v1.0.0"}


HOLDER = """import sys, subprocess
from stages.registry import tags
from stages.training import lock
lock.hold(tags.lock_path())
print("held", flush=True)
sys.stdin.readline()  # the test's word: register, as a first `stages.register` would, then let go
subprocess.run(["git", "tag", "-a", "-m", "first", "lora@v1.0.0"], check=True)
"""


def test_a_second_register_waits_for_the_first_and_checks_again(stubbed, capsys):
    """Two runs at once each registered a version of the same bytes: both checked before either tagged."""
    import threading

    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=stubbed.repo, env={**env(), "PYTHONPATH": str(ROOT)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    outcome = []

    def second():
        try:
            register.main(["lora", "v1.0.1"])
            outcome.append("registered")
        except UserError as error:
            outcome.append(str(error))

    try:
        assert holder.stdout.readline().strip() == "held"
        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        err = ""
        for _ in range(600):  # bounded: until the second run says it waits
            err += capsys.readouterr().err
            if "waiting for it" in err or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert f"another `stages.register` (pid {holder.pid}) is running in this repository: waiting" in err
        assert not tags.versions("lora")  # it has not registered while the first holds the lock
        holder.communicate("go\n", timeout=60)
        thread.join(timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert outcome and outcome[0].startswith("lora@v1.0.0 holds these exact bytes already"), outcome
    assert tags.versions("lora") == {"v1.0.0": "lora@v1.0.0"}

def test_meta_is_this_runs_files(pipeline_run, monkeypatch):
    repo = pipeline_run.repo
    monkeypatch.chdir(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    rouge = json.loads((repo / "metrics/rouge.json").read_text())
    sources = json.loads((repo / "data/sources.json").read_text())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for name in ("full", "lora"):
        meta = artifacts.meta(artifacts.declared(name), "v2.3.4")
        out = next(o for o in lock["stages"][f"train_{name}"]["outs"] if o["path"] == f"models/{name}")
        assert (meta["method"], meta["version"], meta["outs_md5"]) == (name, "v2.3.4", out["md5"])
        assert meta["rouge"] == rouge[name]
        assert (meta["base_model"], meta["base_commit"]) == (sources["model"]["name"], sources["model"].get("sha"))
        assert meta["params"][f"train_{name}"]["learning_rate"] == params[f"train_{name}"]["learning_rate"]
        # what made the scored summaries: an int8 score must not read like a torch fp32 one
        generated = json.loads((repo / f"metrics/generate_{name}.json").read_text())
        assert meta["generated_with"] == {"engine": "torch", "compute_type": "float32", "precision": "fp32",
                                          "device": generated["device"]}
    assert meta["params"]["lora"] == params["lora"]


def files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(repo, *argv) -> str:
    done = subprocess.run([*REGISTER, *argv], cwd=repo, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def share(done, repo) -> None:
    """Run the `git push` that register printed, as a user would paste it."""
    line = next(line for line in done.stdout.splitlines() if line.startswith("share it: "))
    run(shlex.split(line.removeprefix("share it: ")), repo)


def test_two_versions_come_back_byte_for_byte_and_prod_resolves(pipeline_run, lora_experiment, tmp_path):
    """lora v1.0.0 (lora.r=8, the shared run) and v1.1.0 (lora.r=4: the session's experiment left it in the
    run-cache, so `dvc repro` checks it out instead of training), then `dvc artifacts get` in an empty folder."""
    work = clone_of(pipeline_run.repo, tmp_path / "work")
    origin, storage = tmp_path / "origin.git", tmp_path / "storage"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "set-url", "origin", str(origin)], work)
    run(["dvc", "remote", "modify", "storage", "url", str(storage)], work)  # committed: the team's remote
    run(["git", "commit", "-qam", "the team's DVC remote"], work)
    assert "are not in DVC remote 'storage' at " in refused(work, "lora", "v1.0.0")
    run(["dvc", "push", "-q"], work)
    r8 = files(work / "models/lora")
    first = run([*REGISTER, "lora", "v1.0.0", "--stage", "prod"], work)
    assert first.stdout.splitlines() == ["tagged lora@v1.0.0 lora#prod#1",
                                         "share it: git push origin main lora@v1.0.0 lora#prod#1"]
    share(first, work)
    assert "up to date" in run(["dvc", "status"], work).stdout  # the meta commit leaves the pipeline as it was
    run(["git", "tag", "-d", "lora@v1.0.0"], work)  # as on a teammate's clone that has not fetched it
    assert "lora@v1.0.0 is registered already" in refused(work, "lora", "v1.0.0")  # register fetched it

    params = yaml.safe_load((work / "params.yaml").read_text())
    params["lora"]["r"] = 4
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "lora.r=4"], work)
    assert "the pipeline is not up to date (train_lora changed)" in refused(work, "lora", "v1.1.0")
    run(["dvc", "repro"], work)
    assert "uncommitted changes (M dvc.lock" in refused(work, "lora", "v1.1.0")
    run(["git", "commit", "-qam", "lora.r=4 run"], work)
    run(["dvc", "push", "-q"], work)
    assert "older than lora@v1.0.0" in refused(work, "lora", "v0.9.0")
    r4 = files(work / "models/lora")
    assert r4 != r8
    share(run([*REGISTER, "lora", "v1.1.0"], work), work)
    assert "lora@v1.1.0 holds these exact bytes already" in refused(work, "lora", "v1.2.0")

    empty = tmp_path / "empty"
    empty.mkdir()
    for rev, want in (("v1.0.0", r8), ("v1.1.0", r4)):
        run(["dvc", "artifacts", "get", str(origin), "lora", "--rev", rev, "-o", rev], empty)
        assert files(empty / rev) == want, rev
    run(["dvc", "artifacts", "get", f"file://{origin}", "lora", "--stage", "prod", "-o", "prod"], empty)
    assert files(empty / "prod") == r8  # prod is v1.0.0, though v1.1.0 is newer

    promoted = run([*REGISTER, "lora", "v1.1.0", "--stage", "prod"], work)
    assert promoted.stdout.splitlines()[0] == "tagged lora#prod#2"
    share(promoted, work)
    again = run([*REGISTER, "lora", "v1.1.0", "--stage", "prod"], work)
    assert "is in prod already (tag lora#prod#2): nothing to do" in again.stdout
    shown = run([sys.executable, "-c", "import dvc.api, json, sys; print(json.dumps(dvc.api.artifacts_show("
                 f"'lora', stage='prod', repo={str(origin)!r})))"], empty)
    assert json.loads(shown.stdout) == {"rev": run(["git", "rev-list", "-n", "1", "lora@v1.1.0"], work).stdout.strip(),
                                        "path": "models/lora"}

    # each version's dvc.yaml describes that version, from the files on the same commit
    for version, r in (("v1.0.0", 8), ("v1.1.0", 4)):
        at = lambda path: run(["git", "show", f"lora@{version}:{path}"], work).stdout  # noqa: E731
        meta = yaml.safe_load(at("dvc.yaml"))["artifacts"]["lora"]["meta"]
        assert (meta["version"], meta["params"]["lora"]["r"]) == (version, r)
        assert meta["rouge"] == json.loads(at("metrics/rouge.json"))["lora"]
        assert meta["outs_md5"] == artifacts.locked_md5(at("dvc.lock"), "models/lora")


DOC = ROOT / "docs/registry.md"
TEAM_REMOTE = "s3://team-bucket/dialogsum"  # the doc's example remote: a local folder in the tests
DOC_URL = "https://github.com/you/dialogsum"  # the doc's example git URL: a bare repository in the tests


def doc_block(after: str) -> str:
    """The first ```bash block after the text `after` in docs/registry.md, as written there."""
    text = DOC.read_text()
    start = text.index("```bash\n", text.index(after)) + len("```bash\n")
    return text[start:text.index("```", start)]


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the doc's lines as a user pastes them, stopping at the first that fails."""
    return run(["bash", "-e", "-o", "pipefail", "-c", script], cwd)


def test_the_docs_commands_register_an_experiment_that_dvc_artifacts_get_returns(pipeline_run, lora_experiment,
                                                                                  tmp_path):
    """docs/registry.md's order, followed literally, registered a version nobody could fetch: `dvc exp apply` put
    back the placeholder remote (the experiment was run before the team's remote was committed), register
    accepted it, and `dvc artifacts get` failed on a missing cache path."""
    work = clone_of(pipeline_run.repo, tmp_path / "work")
    run(["dvc", "exp", "pull", "--no-cache", "origin", "lora-r4"], work)  # its outputs: in the shared cache
    origin, storage = tmp_path / "origin.git", tmp_path / "storage"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "set-url", "origin", str(origin)], work)

    once = doc_block("Once per project, commit the DVC remote")
    assert TEAM_REMOTE in once
    bash(once.replace(TEAM_REMOTE, str(storage)), work)  # after the experiment's commit: apply would undo it
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], work).stdout.split()
    experiment_commit = next(ref for ref in refs if ref.endswith("/lora-r4"))
    placeholder = "url = ../../dialogsum-dvc-storage"  # what the apply puts back
    assert placeholder in run(["git", "show", f"{experiment_commit}:.dvc/config"], work).stdout
    experiment = doc_block("### Register an experiment")
    assert experiment.startswith("dvc exp apply lora-r4") and "python -m stages.register lora v1.1.0" in experiment
    done = bash(experiment, work)
    assert "tagged lora@v1.1.0" in done.stdout
    assert run(["git", "status", "--porcelain"], work).stdout == ""
    assert f"url = {storage}" in run(["git", "show", "lora@v1.1.0:.dvc/config"], work).stdout
    at_tag = run(["git", "ls-tree", "-r", "--name-only", "lora@v1.1.0"], work).stdout.split()
    assert not [path for path in at_tag if path.startswith(("models/", "data/predictions/")) and
                not path.endswith(".gitignore")]  # the outputs stayed DVC's
    registered = files(work / "models/lora")
    assert json.loads((work / "models/lora/adapter_config.json").read_text())["r"] == 4  # the experiment's model

    fetch = next(line for line in doc_block("## Fetch a version anywhere").splitlines() if "-o lora-newest" in line)
    empty = tmp_path / "empty"
    empty.mkdir()
    bash(fetch.replace(DOC_URL, str(origin)), empty)  # the git URL only: no clone, nothing of this workspace
    assert files(empty / "lora-newest") == registered


def test_a_version_nobody_could_fetch_is_refused_naming_the_fix(pipeline_run, tmp_path, monkeypatch):
    """Each was registered: the remote was checked with this clone's own settings, and outputs in git passed."""
    from project import GIT_ENV

    work = clone_of(pipeline_run.repo, tmp_path / "work")
    storage, elsewhere = tmp_path / "storage", tmp_path / "elsewhere"
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(work)

    def config(level: str, section: str, key: str, value=None, name: str = "storage") -> None:
        """`dvc remote modify [--local] [--unset]` and `dvc remote default`, in-process (DVC's CLI, called
        in-process, would leave its log handlers on this test's captured stderr)."""
        from dvc.repo import Repo

        with Repo(".") as repo, repo.config.edit(level) as conf:
            entry = conf["core"] if section == "core" else conf["remote"].setdefault(name, {})
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = str(value)

    def push() -> None:
        from dvc.repo import Repo

        with Repo(".") as repo:
            repo.push()

    def dvc_status(**options) -> dict:
        from dvc.repo import Repo

        with Repo(".") as repo:
            return repo.status(**options)

    def refusal() -> str:
        with pytest.raises(UserError) as refused:
            register.main(["lora", "v1.0.0"])
        assert not tags.versions("lora")
        return str(refused.value)

    def commit(message: str) -> None:
        run(["git", "add", "-A"], work)
        run(["git", "commit", "-qm", message], work)

    # the committed placeholder: a fetch resolves a relative path from its own clone's root
    assert "points DVC remote 'storage' at a relative path, which `dvc artifacts get` reads from its clone's root " \
           "(/dialogsum-dvc-storage)" in refusal()
    config("repo", "core", "remote")
    commit("no default remote")
    assert "names no default DVC remote" in refusal()
    config("repo", "core", "remote", "storage")
    config("repo", "remote", "url", storage)
    commit("the team's remote")
    message = refusal()
    assert f"output(s) are not in DVC remote 'storage' at {storage}, the one commit" in message
    assert "`dvc artifacts get` reads: models/lora, " in message and "run `dvc push`, then register" in message
    # pushed where this clone's .dvc/config.local says: `dvc status -c` here is clean, a fetch would still fail
    config("local", "remote", "url", elsewhere)
    push()
    assert dvc_status(cloud=True) == {}
    assert f"sends it to {elsewhere} instead (`dvc remote modify --local --unset storage url`" in refusal()
    config("local", "remote", "url")
    push()
    # a file lost from the remote, its folder's listing (.dir) still there: `dvc status -c` and `dvc push` trust it
    listing = artifacts.locked_md5((work / "dvc.lock").read_text(), "models/lora")
    files_md5 = {entry["relpath"]: entry["md5"] for entry in json.loads(
        (pipeline_run.repo / ".dvc/cache/files/md5" / listing[:2] / listing[2:]).read_text())}
    lost = storage / "files/md5" / files_md5["adapter_config.json"][:2] / files_md5["adapter_config.json"][2:]
    lost.unlink()
    assert dvc_status(cloud=True) == {}
    with pytest.raises(UserError, match=r"output\(s\) are not in the DVC remote 'storage': .*adapter_config.json"):
        stale.check_pushed()  # publish asks the same way
    message = refusal()
    assert "reads: models/lora/adapter_config.json. Nobody could fetch this version: run `dvc push` once " \
           f"{storage}/files/md5/{listing[:2]}/{listing[2:]} is deleted from the remote" in message, message
    (storage / "files/md5" / listing[:2] / listing[2:]).unlink()  # the advice
    push()
    assert lost.is_file()

    # dvc.lock never committed: the workspace's is there, so `dvc status` is clean
    run(["git", "rm", "-q", "--cached", "dvc.lock"], work)
    run(["git", "commit", "-qm", "no lock"], work)
    assert "models/lora is not a DVC output at commit" in refusal()
    commit("the lock")
    # a lost .gitignore, then `git add -A`: the adapter and the predictions in git, `dvc status` clean
    (work / "data/predictions/.gitignore").unlink()
    (work / "models/.gitignore").write_text("/base\n/full\n")
    commit("outputs in git")
    assert dvc_status() == {}
    message = refusal()
    assert re.search(r"commit \w+ holds data/predictions/base.jsonl, data/predictions/full.jsonl, "
                     r"data/predictions/lora.jsonl, models/lora in git \(\d+ file\(s\)\), but they are DVC outputs",
                     message), message
    bash(re.search(r"Take it out of git: `([^`]+)`", message).group(1), work)  # the fix, as printed
    assert run(["git", "status", "--porcelain"], work).stdout == ""
    register.main(["lora", "v1.0.0"])
    assert tags.versions("lora") == {"v1.0.0": "lora@v1.0.0"}
    in_git = run(["git", "ls-tree", "-r", "--name-only", "lora@v1.0.0", "--", "models", "data/predictions"], work)
    assert in_git.stdout.split() == ["data/predictions/.gitignore", "models/.gitignore"]
    # promoting a version checks again that it can be fetched: here the remote lost its files since
    gone = storage.rename(tmp_path / "gone")
    with pytest.raises(UserError, match=r"lora@v1.0.0 not promoted to prod: \d+ output\(s\) are not in DVC remote"):
        register.main(["lora", "v1.0.0", "--stage", "prod"])
    assert tags.stage_tag("lora", "prod") is None
    gone.rename(storage)
    register.main(["lora", "v1.0.0", "--stage", "prod"])
    assert tags.stage_tag("lora", "prod")
