"""A stage never records params it did not run with: what dvc.yaml declares for it is noted at the start and
checked again before its outputs land and after; a params error under DVC says how to get the outputs back."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from project import ROOT, env
from stages.io import declared, stage
from stages.io.errors import ParamsError, UserError

PARAMS = (ROOT / "params.yaml").read_text(encoding="utf-8")
TOY = """
stages:
  train:
    cmd: python train.py
    deps: [code, big.bin]
    params: [lora, generate.num_beams]
    outs:
      - model
      - metrics.json:
          cache: false
  gen:
    foreach:
      a: {weights: wa}
      b: {weights: wb}
    do:
      cmd: python gen.py ${key}
      deps: [code, "${item.weights}"]
      params: [generate]
      outs: ["pred/${key}.jsonl"]
"""


@pytest.fixture
def toy(in_tmp, monkeypatch) -> Path:
    monkeypatch.delenv("DVC_STAGE", raising=False)
    (in_tmp / "params.yaml").write_text(PARAMS)
    (in_tmp / "dvc.yaml").write_text(TOY)
    (in_tmp / ".dvcignore").write_text("__pycache__/\n*.pyc\n")
    (in_tmp / "code").mkdir()
    (in_tmp / "code" / "a.py").write_text("x = 1\n")
    (in_tmp / "big.bin").write_bytes(b"\0" * (stage.SMALL + 1))
    for name in ("wa", "wb"):
        (in_tmp / name).write_text(name)
    return in_tmp


def edit_params(old: str, new: str) -> None:
    text = Path("params.yaml").read_text()
    assert old in text
    Path("params.yaml").write_text(text.replace(old, new, 1))


def test_the_project_dvc_yaml_is_read_as_dvc_reads_it():
    raw = yaml.safe_load(PARAMS)
    lora = declared.stage("generate@lora", raw, ROOT / "dvc.yaml")
    assert lora.found and lora.params == {"params.yaml": ["generate"]}
    assert "models/lora" in lora.deps and "stages/io" in lora.deps and "models/full" not in lora.deps
    assert lora.outs == ["data/predictions/lora.jsonl"] and lora.uncached == ["metrics/generate_lora.json"]
    train = declared.stage("train_lora", raw, ROOT / "dvc.yaml")
    assert train.params["params.yaml"][:2] == ["train_lora", "lora"] and train.outs == ["models/lora"]
    for name in ("generate@nope", "train_lora@x", "nope"):
        assert not declared.stage(name, raw, ROOT / "dvc.yaml").found


def test_a_declared_param_changed_while_running_stops_the_stage(toy):
    stage.start("train")
    edit_params("  r: 32", "  r: 8")  # what a `dvc exp run -S lora.r=8` that failed as busy leaves behind
    with pytest.raises(UserError) as caught:
        stage.unchanged()
    message = str(caught.value)
    assert "stage train changed while it ran: params.yaml: lora.r was 32, is now 8." in message
    assert "It writes no outputs" in message and "\n" not in message


def test_a_param_the_stage_does_not_declare_may_change(toy):
    stage.start("train")
    edit_params("  learning_rate: 5.0e-5", "  learning_rate: 1.0e-4")  # train_full's: not this stage's
    edit_params("  max_new_tokens: 128", "  max_new_tokens: 64")  # generate.*, but only num_beams is declared
    stage.unchanged()


def test_writing_checks_before_the_first_output_and_after_the_last(toy):
    stage.start("train")
    written = []
    (toy / "code" / "a.py").write_text("x = 2\n")
    with pytest.raises(UserError, match="code/a.py changed. It writes no outputs"):
        with stage.writing():
            written.append("model")
    assert written == []

    stage.start("train")
    with pytest.raises(UserError, match="were written from the old values, so the stage fails"):
        with stage.writing():
            written.append("model")
            edit_params("  num_beams: 1", "  num_beams: 2")
    assert written == ["model"]


def test_deps_are_watched_file_by_file_and_ignored_files_are_not(toy):
    stage.start("train")
    (toy / "code" / "__pycache__").mkdir()
    (toy / "code" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"bytecode")  # a lazy import compiles
    stage.unchanged()
    (toy / "code" / "new.py").write_text("")
    with pytest.raises(UserError, match="code/new.py appeared"):
        stage.unchanged()

    stage.start("train")
    info = (toy / "big.bin").stat()
    os.utime(toy / "big.bin", ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))  # weights rewritten
    with pytest.raises(UserError, match="big.bin changed"):
        stage.unchanged()


def test_a_code_file_opened_in_an_editor_is_no_change(toy):
    """vim and emacs write swap, probe, lock and backup files beside a file they open: reading a stage's code while
    it trains used to stop it. The project's .dvcignore names them (so DVC's hash of a code folder leaves them out
    too); the stage reads the same patterns."""
    (toy / ".dvcignore").write_text((ROOT / ".dvcignore").read_text())
    stage.start("train")
    for name in (".a.py.swp", ".a.py.swo", "4913", "a.py~", "#a.py#", ".DS_Store"):
        (toy / "code" / name).write_text("editor")
    (toy / "code" / ".#a.py").symlink_to("user@host.1234:1700000000")  # emacs's lock: a dangling link
    stage.unchanged()
    (toy / "code" / "b.py").write_text("")
    with pytest.raises(UserError, match="code/b.py appeared"):
        stage.unchanged()


def test_foreach_stages_watch_their_own_item(toy):
    stage.start("gen@b")
    (toy / "wa").write_text("other model")
    stage.unchanged()
    (toy / "wb").unlink()
    with pytest.raises(UserError, match="wb was deleted"):
        stage.unchanged()


def test_params_that_no_longer_read_count_as_changed(toy):
    stage.start("gen@a")
    edit_params("  num_beams: 1 ", "  num_beams: 2\n  num_beams: 1 ")
    with pytest.raises(UserError, match=r"params.yaml no longer reads \(params.yaml: generate.num_beams: given twice"):
        stage.unchanged()


def test_without_a_dvc_yaml_entry_every_param_counts(toy):
    stage.start("by_hand")
    edit_params("  learning_rate: 5.0e-5", "  learning_rate: 1.0e-4")
    with pytest.raises(UserError, match="train_full.learning_rate was 5e-05, is now 0.0001"):
        stage.unchanged()


def test_under_dvc_a_params_error_says_how_to_get_the_outputs_back(toy, monkeypatch):
    edit_params("  r: 32", "  r: 0")
    with pytest.raises(ParamsError) as by_hand:
        stage.start("train")
    assert "dvc checkout" not in str(by_hand.value)  # run by hand, DVC deleted nothing

    monkeypatch.setenv("DVC_STAGE", "train")
    with pytest.raises(ParamsError) as never_run:
        stage.start("train")
    assert "dvc checkout" not in str(never_run.value)  # dvc.lock does not list it: nothing to restore

    (toy / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n")
    with pytest.raises(ParamsError) as caught:
        stage.start("train")
    assert caught.value.key == "lora.r"
    assert str(caught.value).endswith(
        "DVC deleted this stage's previous outputs before running it; to get them back as last recorded, run "
        "`dvc checkout train` (from DVC's cache: model) and `git checkout -- metrics.json` (outputs DVC does not "
        "cache: git's committed copies).")


def test_under_dvc_any_error_after_the_start_says_how_to_get_the_outputs_back(toy, monkeypatch, capsys):
    """A params value only the model can refuse (lora.target_modules naming no layer of it), a full disk: raised
    after the stage started, where DVC had deleted its outputs all the same. The hint is given once, also where the
    message already carries it (inputs changed while running)."""
    from stages.io.errors import run
    monkeypatch.setattr(stage, "_watch", None)  # the stage this test starts is forgotten after it
    monkeypatch.setenv("DVC_STAGE", "train")
    (toy / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n")
    hint = "to get them back as last recorded, run `dvc checkout train`"

    def refused():
        stage.start("train")
        raise ParamsError("lora.target_modules", "nope not found in the model.")

    def changed():
        stage.start("train")
        edit_params("  r: 32", "  r: 8")
        stage.unchanged()

    for main in (refused, changed):
        with pytest.raises(SystemExit):
            run(main)
        message = capsys.readouterr().err
        assert message.startswith("error: ") and message.count(hint) == 1, message
    monkeypatch.delenv("DVC_STAGE")  # run by hand, DVC deleted nothing
    with pytest.raises(SystemExit):
        run(refused)
    assert "dvc checkout" not in capsys.readouterr().err


# The scenario with the real DVC: a stage in miniature that loads params through stages.io.stage, then
# waits for a "go" file (a long training), then writes its output under stage.writing().
TRAIN = f"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from stages.io import stage
from stages.io.errors import run

def main():
    p = stage.start("train_lora")
    Path("ready").touch()
    deadline = time.monotonic() + 120
    while not Path("go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with stage.writing():
        Path("model").mkdir(exist_ok=True)
        Path("model/weights").write_text(f"trained with r={{p.lora.r}} by process {{os.getpid()}}")

run(main)
"""


def dvc(args, cwd, check=True):
    done = subprocess.run(["dvc", *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    assert not check or done.returncode == 0, done.stderr[-3000:]
    return done


def test_dvc_exp_run_beside_a_running_stage_is_never_recorded_as_its_params(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "params.yaml").write_text(PARAMS)
    (repo / "dvc.yaml").write_text("stages:\n  train_lora:\n    cmd: python train.py\n    deps: [train.py]\n"
                                   "    params: [lora]\n    outs: [model]\n")
    (repo / ".gitignore").write_text("go\nready\n")
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(command, cwd=repo, env=env(), check=True)
    (repo / "go").touch()
    dvc(["repro", "-q"], repo)
    first = (repo / "model" / "weights").read_text()
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env(), check=True)
    subprocess.run(["git", "commit", "-qm", "trained with r=32"], cwd=repo, env=env(), check=True)
    # Both files of the first run go: a "ready" left behind let the wait below end before the second stage had
    # read params.yaml, and on a loaded machine `dvc exp run` then edited it first (the stage rightly ran with r=8).
    (repo / "go").unlink()
    (repo / "ready").unlink()

    running = subprocess.Popen(["dvc", "repro", "-f"], cwd=repo, env=env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (repo / "ready").exists() and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = dvc(["exp", "run", "-S", "lora.r=8"], repo, check=False)
        assert busy.returncode != 0  # the repo is locked by the running stage...
        assert "  r: 8" in (repo / "params.yaml").read_text()  # ...but the override stays behind
        (repo / "go").touch()
        out, err = running.communicate(timeout=300)
    finally:
        running.kill()
    assert running.returncode != 0, out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert "params.yaml: lora.r was 32, is now 8" in errors[0] and "dvc checkout train_lora" in errors[0]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["train_lora"]["params"]["params.yaml"]["lora"]["r"] == 32
    # DVC deleted the model before the run (the failed `dvc exp run` checked it out again); the stage wrote nothing
    assert not (repo / "model").exists() or (repo / "model" / "weights").read_text() == first

    shutil.rmtree(repo / "model", ignore_errors=True)
    dvc(["checkout", "train_lora"], repo)  # what the message says brings the last outputs back
    assert (repo / "model" / "weights").read_text() == first and first.startswith("trained with r=32 ")


@pytest.mark.parametrize("argv, code, shown", [
    (["stages/prepare.py", "--help"], 0, "a DVC stage, run by `dvc repro prepare`"),
    (["stages/generate.py", "lora", "-h"], 0, "usage: python -m stages.generate MODEL"),
    (["stages/train_lora.py", "--epochs", "3"], 1, "Got --epochs 3"),
    (["stages/generate.py", "base", "extra"], 1, "Got extra"),
])
def test_a_stage_typed_with_an_option_says_what_it_is_instead_of_running(argv, code, shown, in_tmp, monkeypatch,
                                                                         capsys):
    """Found: `python -m stages.prepare --help` ran prepare (a model download), the option ignored."""
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises((SystemExit, UserError)) as caught:
        stage.start(f"{Path(argv[0]).stem}@{argv[1]}" if "generate" in argv[0] else Path(argv[0]).stem)
    assert (caught.value.code if isinstance(caught.value, SystemExit) else 1) == code
    assert shown in (capsys.readouterr().out if code == 0 else str(caught.value))
