"""The try-it path: `python -m stages.demo` builds a scratch model from the corpus and runs the experiment."""
import copy
import re
import shlex
import sys

import pytest
import yaml

from project import ROOT, make_project, run
from stages import demo
from stages.io import params
from stages.io.errors import UserError
from stages.scratch import experiment


def with_settings(raw: dict, values: dict) -> dict:
    raw = copy.deepcopy(raw)
    for key, value in values.items():
        section, name = key.split(".")
        raw[section][name] = value
    return raw


def test_settings_are_valid_params_and_keep_the_rest():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    values = experiment.settings("/data/dialogsum")
    p = params.parse(with_settings(raw, values))
    assert p.model.name == experiment.MODEL and p.data.source == "/data/dialogsum"
    assert p.lora.target_modules == "all-linear"
    assert p.model.revision == raw["model"]["revision"]  # untouched keys keep the committed values


# Paths that DVC's `-S` parser (Hydra's override grammar, then OmegaConf) refused or changed when written bare.
HOSTILE = ["/data/dialog sum", "/data/a,b", "/data/it's", '/data/"q"', "/data/a#b", "/data/a=b", "/data/[x]{y}(z)",
           "/data/~x", "/data/données ü 日本", "/data/${model.name}", "/data/a\\${x}", "/data/a\\\\${x}",
           "/data/${oc.env:HOME}", "/data/back\\", "/data/\\'", "/data/a:b", "/data/$x", "/data/tab\tx",
           "/data/new\nline", "${a}${b}",
           "1e3", "null", "True", "", " spaces around "]  # text that YAML or Hydra would read as a number, null, bool


def test_flags_give_back_the_same_values_through_dvcs_own_parser(tmp_path):
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides

    for path in HOSTILE:
        values = {**experiment.settings(path), "model.revision": "sha256:" + "a" * 64,
                  "lora.target_modules": ["q", "v"]}
        flags = experiment.set_flags(values)
        assert flags[::2] == ["-S"] * len(values)
        params_file = tmp_path / "params.yaml"
        params_file.write_text((ROOT / "params.yaml").read_text())
        overrides = to_path_overrides(flags[1::2])  # as `dvc exp run -S` groups them: all for params.yaml
        assert list(overrides) == ["params.yaml"]
        apply_overrides(params_file, overrides["params.yaml"])
        raw = yaml.safe_load(params_file.read_text())
        assert {key: raw[key.split(".")[0]][key.split(".")[1]] for key in values} == values, path


def test_a_pinned_local_folder_is_checked_and_an_unpinned_one_warned(tmp_path, tiny_corpus, capsys):
    """A local model or data folder has no commit: its revision may pin its content's fingerprint, which makes a
    rebuilt demo/model or new data at the same path a changed param (DVC reran nothing and reported old results)."""
    import shutil

    from stages.data import sources

    data = shutil.copytree(tiny_corpus, tmp_path / "data")
    (data / ".notes").write_text("not read")
    pin = sources.fingerprint("dataset", data)
    assert sources.PIN.fullmatch(pin)
    assert sources.resolve("dataset", str(data), pin, local=True) == {"name": str(data), "local": True,
                                                                      "revision": pin}
    assert capsys.readouterr().err == ""
    (data / "test.jsonl").write_text((data / "test.jsonl").read_text().replace("#Person1#", "#Person2#", 1))
    with pytest.raises(UserError, match=rf"data.revision pins the folder .* at {pin}, but its files are "
                                        rf"{sources.fingerprint('dataset', data)} now"):
        sources.resolve("dataset", str(data), pin, local=True)
    assert sources.resolve("dataset", str(data), "main", local=True) == {"name": str(data), "local": True}
    assert f"set data.revision to {sources.fingerprint('dataset', data)}" in capsys.readouterr().err

    with pytest.raises(UserError, match=r"data.revision sha256:\w+ is a local folder's fingerprint, but data.source "
                                        r"'knkarthick/dialogsum' is a Hub id: give a Hub revision"):
        sources.resolve("dataset", "knkarthick/dialogsum", pin, local=False)  # the try-it params, Hub data again

    model = tmp_path / "model"
    (model / ".git").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    before = sources.fingerprint("model", model)
    (model / ".git" / "index").write_text("git's own churn")  # hidden: not what loading reads
    assert sources.fingerprint("model", model) == before
    (model / "config.json").rename(model / "other.json")  # the same bytes under another name: another model
    assert sources.fingerprint("model", model) != before


def test_refuses_a_folder_without_the_splits(in_tmp, tiny_corpus):
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(UserError, match="train.jsonl, validation.jsonl and test.jsonl"):
        demo.main(["--data", str(in_tmp), "--build-only"])


def test_keeps_a_folder_it_did_not_build(in_tmp, tiny_corpus):
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    (in_tmp / "demo" / "model").mkdir(parents=True)
    (in_tmp / "demo" / "model" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no model") as error:
        demo.main(["--data", str(tiny_corpus), "--build-only"])
    assert "--out" not in str(error.value)  # it named an option demo does not have
    assert (in_tmp / "demo" / "model" / "notes.txt").read_text() == "mine"


def test_a_model_built_from_other_data_is_not_reused_silently(in_tmp, tiny_corpus):
    import shutil

    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    demo.main(["--data", str(tiny_corpus), "--build-only"])
    other = shutil.copytree(tiny_corpus, in_tmp / "other")
    (other / "train.jsonl").write_text((other / "train.jsonl").read_text().replace("#Person1#", "#Person2#", 1))
    built = (in_tmp / "demo/model/model.safetensors").read_bytes()
    with pytest.raises(UserError, match="built from another train.jsonl than the one in --data"):
        demo.main(["--data", str(other), "--build-only"])
    with pytest.raises(UserError, match="train.jsonl, validation.jsonl and test.jsonl"):
        demo.main(["--data", str(in_tmp / "missing"), "--build-only"])
    demo.main(["--data", str(tiny_corpus), "--build-only"])  # the same data: reused
    assert (in_tmp / "demo/model/model.safetensors").read_bytes() == built
    demo.main(["--data", str(other), "--build-only", "--force"])  # rebuilt from the other data
    assert (in_tmp / "demo/model/built_from.sha256").read_text().strip() == demo.fingerprint(other)


def test_a_malformed_test_split_is_refused_before_the_model_is_built(in_tmp, tiny_corpus):
    """Only train.jsonl was read: the model was built, then `prepare` refused test.jsonl inside `dvc exp run`."""
    import shutil

    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    data = shutil.copytree(tiny_corpus, in_tmp / "data-copy")
    (data / "test.jsonl").write_text((data / "test.jsonl").read_text() + '{"id": "x", "dialogue": "a"}\n')
    with pytest.raises(UserError, match="test.jsonl, line 19: columns differ from the first row's .it lacks summary"):
        demo.main(["--data", str(data), "--build-only"])
    assert not (in_tmp / "demo").exists()


@pytest.mark.parametrize("text, message", [
    ("\u200b\ufeff" * 20, "'dialogue' is empty once its invisible characters"),
    ("#Person1#: hi\x1b[2J", "'dialogue' holds the control character U+001B"),
    ("\u5927\u5bb6\u597d " * 30, "% characters the model's tokenizer does not know (it reads them as <unk>)"),
], ids=["invisible", "escape", "unknown to the tokenizer it builds"])
def test_a_dialogue_prepare_would_refuse_is_refused_before_the_model_is_kept(in_tmp, tiny_corpus, text, message):
    """The same check as prepare, summarize and serve (stages/data/dialogue.py); the last needs the tokenizer that
    is learned from the train split, so it is checked once that is built, and nothing is kept."""
    import json
    import shutil

    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    data = shutil.copytree(tiny_corpus, in_tmp / "data-copy")
    row = {"id": "hostile", "dialogue": text, "summary": "s"}
    (data / "validation.jsonl").write_text((data / "validation.jsonl").read_text() + json.dumps(row) + "\n")
    with pytest.raises(UserError, match=re.escape(message)):
        demo.main(["--data", str(data), "--build-only"])
    assert not (in_tmp / "demo/model").exists()


def test_a_file_where_its_folder_goes_is_named_and_kept(in_tmp, tiny_corpus):
    """It said `cannot write demo/model: File exists (demo); free space or fix permissions`."""
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    (in_tmp / "demo").write_text("mine")
    with pytest.raises(UserError, match="demo is a file, so nothing can be written under it"):
        demo.main(["--data", str(tiny_corpus), "--build-only"])
    assert (in_tmp / "demo").read_text() == "mine"


def test_a_file_or_link_at_demo_model_is_kept_with_advice_demo_can_take(in_tmp, tiny_corpus):
    """Found: the advice was "give a folder path" / "give a path outside it", options demo does not have."""
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    (in_tmp / "demo").mkdir()
    (in_tmp / "demo" / "model").write_text("mine")
    (in_tmp / "elsewhere").mkdir()
    for force in ([], ["--force"]):
        with pytest.raises(UserError, match="demo/model is a file, not the folder .* move it away") as caught:
            demo.main(["--data", str(tiny_corpus), "--build-only", *force])
        assert "give a" not in str(caught.value)
    assert (in_tmp / "demo" / "model").read_text() == "mine"
    (in_tmp / "demo" / "model").unlink()
    (in_tmp / "demo" / "model").symlink_to(in_tmp / "elsewhere")
    with pytest.raises(UserError, match="demo/model is a link, not the folder .* move it away"):
        demo.main(["--data", str(tiny_corpus), "--build-only", "--force"])
    assert (in_tmp / "demo" / "model").is_symlink()


def test_a_second_run_under_a_taken_name_says_how_on_before_dvc_runs(in_tmp, tiny_corpus, monkeypatch):
    """It ran `dvc exp run -n try-it` again, which DVC refused with `dvc exp run -f ...`, a flag demo has not."""
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    (in_tmp / "demo" / "model").mkdir(parents=True)
    (in_tmp / "demo" / "model" / "config.json").write_text("{}")  # built by an earlier run
    monkeypatch.setattr(demo, "experiments", lambda: ["try-it", "other"])
    monkeypatch.setattr(demo.subprocess, "Popen", lambda *a, **k: pytest.fail("dvc exp run was started"))
    with pytest.raises(UserError, match="an experiment named try-it exists already.*give another --name, or "
                                        "remove it first with `dvc exp remove try-it`"):
        demo.main(["--data", str(tiny_corpus)])


CHILD = """import pathlib, signal, sys, time
def stop(*_):
    time.sleep(0.3)  # its cleanup takes a while
    pathlib.Path(sys.argv[1], "cleaned").write_text("yes")
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
pathlib.Path(sys.argv[1], "ready").write_text("yes")
time.sleep(60)
"""


def test_ctrl_c_lets_dvc_exp_run_clean_up_before_demo_stops(tmp_path):
    """A terminal's Ctrl-C reaches demo and `dvc exp run` alike: demo waits for the child's own cleanup."""
    import os
    import signal
    import threading

    def interrupt():  # as a terminal does: the child and this process
        for _ in range(600):  # bounded: 60 s
            if (tmp_path / "ready").exists():
                break
            threading.Event().wait(0.1)
        os.kill(child_pid[0], signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    child_pid = []
    real_popen = demo.subprocess.Popen

    def popen(command):
        child = real_popen(command)
        child_pid.append(child.pid)
        threading.Thread(target=interrupt, daemon=True).start()
        return child

    # Python's own Ctrl-C, also where this runs as a background job (started with SIGINT ignored)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    demo.subprocess.Popen, saved = popen, demo.subprocess.Popen
    try:
        with pytest.raises(KeyboardInterrupt):
            demo.wait_for([sys.executable, "-c", CHILD, str(tmp_path)])
    finally:
        demo.subprocess.Popen = saved
        signal.signal(signal.SIGINT, handler)
    assert (tmp_path / "cleaned").read_text() == "yes"


def test_build_only_prints_the_experiment_command(in_tmp, tiny_corpus, capsys):
    import shutil

    from stages.data import sources

    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    (in_tmp / "demo" / "model").mkdir(parents=True)  # an empty folder holds nothing to keep: built into
    demo.main(["--data", str(tiny_corpus), "--build-only"])
    command = shlex.split(capsys.readouterr().out.strip())
    assert command[:5] == ["dvc", "exp", "run", "-n", "try-it"]
    assert f'model.name="{experiment.MODEL}"' in command
    assert (in_tmp / "demo" / "model" / "model.safetensors").is_file()
    first = {flag.split("=")[0]: flag.split("=")[1] for flag in command[6::2] if ".revision=" in flag}
    assert first == {"model.revision": f'"{sources.fingerprint("model", in_tmp / "demo/model")}"',
                     "data.revision": f'"{sources.fingerprint("dataset", tiny_corpus)}"'}

    # new data at the same path, --force: another model, so other revisions and DVC reruns the pipeline
    data = shutil.copytree(tiny_corpus, in_tmp / "data")
    demo.main(["--data", str(data), "--build-only"])
    (data / "train.jsonl").write_text((data / "train.jsonl").read_text().replace("#Person1#", "#Person2#", 1))
    demo.main(["--data", str(data), "--build-only", "--force"])
    last = shlex.split(capsys.readouterr().out.strip().splitlines()[-1])
    again = {flag.split("=")[0]: flag.split("=")[1] for flag in last[6::2] if ".revision=" in flag}
    assert again["model.revision"] != first["model.revision"] and again["data.revision"] != first["data.revision"]


@pytest.mark.slow
def test_the_documented_command_runs_the_pipeline_as_an_experiment(tmp_path, tiny_model, tiny_corpus):
    """End to end on the tests' corpus: the real `python -m stages.demo` and `dvc exp run`, then the README's
    everyday commands on that run; params.yaml's committed values stay committed."""
    repo = make_project(tmp_path / "repo", tiny_model, tiny_corpus)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["lora"]["r"] = 32  # params.yaml's own rank, which the README's `-S lora.r=8` changes
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["git", "commit", "-qam", "lora.r as in params.yaml"], repo)
    committed = (repo / "params.yaml").read_text()
    run(["python", "-m", "stages.demo", "--data", str(tiny_corpus)], repo, timeout=900)
    assert "try-it" in run(["dvc", "exp", "show", "--json"], repo).stdout
    assert run(["git", "show", "HEAD:params.yaml"], repo).stdout == committed
    rouge = yaml.safe_load((repo / "metrics" / "rouge.json").read_text())
    assert set(rouge) == {"base", "full", "lora", "lead3", "longest3"}  # the models, and the baselines' ROUGE-1
    assert "full.rouge1" in run(["dvc", "metrics", "show"], repo).stdout
    readme = (ROOT / "README.md").read_text()
    exp_show = next(line for line in readme.splitlines() if line.startswith("$ dvc exp show "))
    shown = run(shlex.split(exp_show[2:]), repo).stdout
    assert "try-it" in shown and "full.rouge1" in shown
    # the README's next two commands, as printed there: a one-param experiment, then the paired comparison
    command = lambda start: shlex.split(next(line[2:] for line in readme.splitlines() if line.startswith(start)),
                                        comments=True)  # noqa: E731
    done = run(command("$ dvc exp run -S "), repo)
    assert "Running stage 'train_lora'" in done.stdout + done.stderr
    compared = run(command("$ python -m stages.compare try-it"), repo).stdout
    assert "params that differ: lora.r 32 -> 8" in compared and "note: full: the same summaries" in compared
    (tmp_path / "dialogue.txt").write_text("#Person1#: Hello, I would like to book a table.\n#Person2#: Sure.\n")
    run(["python", "-m", "stages.summarize", "--model", "full", str(tmp_path / "dialogue.txt")], repo)


@pytest.mark.slow
def test_a_hostile_data_path_and_new_data_under_it_reach_prepare(tmp_path, tiny_model, tiny_corpus):
    """For real, `prepare` alone: the printed `dvc exp run` with a data folder named with every character DVC's
    `-S` parser tripped on, then --force with new data at the same path, which DVC skipped (old results)."""
    import json
    import shutil

    from stages.data import sources

    repo = make_project(tmp_path / "repo", tiny_model, tiny_corpus)
    data = shutil.copytree(tiny_corpus, tmp_path / "dialog, sum's #1 [=] ~données ${x}")

    def exp_run(*extra) -> str:
        printed = run([sys.executable, "-m", "stages.demo", "--data", str(data), "--build-only", *extra], repo)
        return run([*shlex.split(printed.stdout.strip()), "prepare"], repo).stdout

    exp_run()
    recorded = json.loads((repo / "data/sources.json").read_text())["data"]
    assert recorded == {"name": str(data), "local": True, "revision": sources.fingerprint("dataset", data),
                        "license": "cc-by-nc-sa-4.0", "title": "DialogSum"}  # data.license, data.name
    train = data / "train.jsonl"
    train.write_text(train.read_text().replace("#Person1#", "#Person2#", 1))
    run(["dvc", "exp", "remove", "try-it"], repo)
    shown = exp_run("--force")
    assert "Running stage 'prepare'" in shown, shown  # it said "Stage 'prepare' didn't change, skipping"
    assert json.loads((repo / "data/sources.json").read_text())["data"]["revision"] == \
        sources.fingerprint("dataset", data)
