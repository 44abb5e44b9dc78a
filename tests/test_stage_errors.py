"""The contract of a stage run by DVC: a user's mistake is one `error:` paragraph and exit code 1, no
traceback, and no output left that a later stage would take for a finished one."""
import shutil
import sys
from types import SimpleNamespace

import pytest
import yaml

from project import ROOT, run, tiny_params, write_params
from test_model_errors import small_t5

from stages.training import adapters
from stages.modeling import models


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_model, tiny_corpus):
    """A project folder on which prepare has run with good params."""
    folder = tmp_path_factory.mktemp("stage_errors")
    shutil.copytree(ROOT / "stages", folder / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    write_params(folder, tiny_params(tiny_model, tiny_corpus))
    run([sys.executable, "-m", "stages.prepare"], folder)
    return folder


def fails(folder, *stage) -> str:
    done = run([sys.executable, "-m", "stages." + stage[0], *stage[1:]], folder, check=False)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def project(tmp_path, prepared, **changes):
    """A fresh copy of the project (no outputs) with some params changed."""
    shutil.copytree(prepared / "stages", tmp_path / "stages")
    params = yaml.safe_load((prepared / "params.yaml").read_text())
    for key, value in changes.items():
        section, name = key.split("__")
        params[section][name] = value
    write_params(tmp_path, params)
    return tmp_path


def no_prepare_outputs(folder):
    return not (folder / "data" / "prepared").exists() and not (folder / "models" / "base").exists()


def test_unknown_param(tmp_path, prepared):
    folder = project(tmp_path, prepared, train_full__learning_rat=1e-3)
    assert "params.yaml: train_full.learning_rat: unknown key" in fails(folder, "prepare")
    assert no_prepare_outputs(folder)


def test_unparsable_data_line(tmp_path, prepared, tiny_corpus):
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    lines = (corpus / "validation.jsonl").read_text().splitlines()
    lines[4] = lines[4][:-1]  # drop the closing brace
    (corpus / "validation.jsonl").write_text("\n".join(lines) + "\n")
    folder = project(tmp_path / "p", prepared, data__source=str(corpus))
    assert f"{corpus / 'validation.jsonl'}, line 5: not valid JSON" in fails(folder, "prepare")
    assert no_prepare_outputs(folder)


def test_not_a_model(tmp_path, prepared):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text("{}")
    folder = project(tmp_path / "p", prepared, model__name=str(tmp_path / "weights"))
    assert "holds no tokenizer files" in fails(folder, "prepare")  # checked before transformers builds one
    assert no_prepare_outputs(folder)


def test_lora_target_the_model_lacks(prepared):
    original = (prepared / "params.yaml").read_text()
    try:
        (prepared / "params.yaml").write_text(original.replace("- v\n", "- value\n"))
        assert "lora.target_modules: value not found" in fails(prepared, "train_lora")
    finally:
        (prepared / "params.yaml").write_text(original)
    assert not (prepared / "models" / "lora").exists()
    assert not list((prepared / "models" / ".trainer").glob("*/checkpoint-*"))


def test_adapter_for_another_base_model(tmp_path, prepared):
    other = models.load_model(small_t5(tmp_path / "other"))
    lora = SimpleNamespace(r=4, alpha=8, dropout=0.0, target_modules=["q", "v"])
    adapters.add(other, lora).save_pretrained(prepared / "models" / "lora")
    for name in ("tokenizer.json", "tokenizer_config.json"):  # a tokenizer of its own: the weights are what differ
        shutil.copyfile(prepared / "models" / "base" / name, prepared / "models" / "lora" / name)
    try:
        assert "does not fit this base model" in fails(prepared, "generate", "lora")
    finally:
        shutil.rmtree(prepared / "models" / "lora")
    assert not (prepared / "data" / "predictions" / "lora.jsonl").exists()
    assert not (prepared / "metrics" / "generate_lora.json").exists()
