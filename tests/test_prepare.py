import json
import shutil
import sys

import pytest

from project import ROOT, run, tiny_params, write_params
from stages import prepare
from stages.data import dialogsum


def run_prepare(folder, tiny_model, tiny_corpus, **data_overrides):
    params = tiny_params(tiny_model, tiny_corpus)
    params["data"].update(data_overrides)
    write_params(folder, params)
    prepare.main()
    return {split: dialogsum.load_prepared(split) for split in dialogsum.SPLITS}


def test_prepare_tokenizes_prompts_without_padding(in_tmp, tiny_model, tiny_corpus):
    splits = run_prepare(in_tmp, tiny_model, tiny_corpus)
    assert (in_tmp / "models/base/model.safetensors").is_file()
    train = splits["train"]
    assert len(train) == 24 and len(splits["test"]) == 18
    lengths = [len(ids) for ids in train["input_ids"]]
    assert lengths == train["length"] and len(set(lengths)) > 1, "no padding: lengths differ"
    assert all(ids[-1] == 1 and 0 not in ids for ids in train["input_ids"]), "ends with </s>, no <pad>"
    from stages.modeling.models import load_tokenizer

    prompt = load_tokenizer().decode(train["input_ids"][0], skip_special_tokens=True)
    first = json.loads((tiny_corpus / "train.jsonl").read_text().splitlines()[0])
    assert prompt.startswith("Summarize the following conversation.") and prompt.rstrip().endswith("Summary:")
    assert first["dialogue"].splitlines()[0].split(",")[0] in prompt


def test_subsample_is_deterministic_and_keeps_every_reference(in_tmp, tiny_model, tiny_corpus):
    first = run_prepare(in_tmp, tiny_model, tiny_corpus, max_train_samples=5, max_test_samples=2)
    again = run_prepare(in_tmp, tiny_model, tiny_corpus, max_train_samples=5, max_test_samples=2)
    assert first["train"]["id"] == again["train"]["id"] and len(first["train"]) == 5
    test_ids = first["test"]["id"]
    assert len(test_ids) == 6 and len({i.rsplit("_", 1)[0] for i in test_ids}) == 2
    other_seed = run_prepare(in_tmp, tiny_model, tiny_corpus, max_train_samples=5, seed=7)
    assert other_seed["train"]["id"] != first["train"]["id"]


def test_truncation_respects_max_lengths(in_tmp, tiny_model, tiny_corpus):
    splits = run_prepare(in_tmp, tiny_model, tiny_corpus, max_source_length=40, max_target_length=5)
    assert max(splits["train"]["length"]) == 40
    assert max(len(x) for x in splits["train"]["labels"]) == 5


@pytest.mark.parametrize("key, value, advice", [
    ("data.source", "knkarthick/dialogsum", "set data.source to a local directory"),
    ("model.name", "google/flan-t5-base", "Set model.name to a Hub id you can reach or to a local directory"),
])
def test_unreachable_hub_says_how_to_work_offline(tmp_path, tiny_model, tiny_corpus, key, value, advice):
    params = tiny_params(tiny_model, tiny_corpus)
    section, name = key.split(".")
    params[section][name] = value
    write_params(tmp_path, params)
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    done = run([sys.executable, "-m", "stages.prepare"], tmp_path, check=False)  # HF_HUB_OFFLINE=1: no Hub here
    assert done.returncode == 1
    assert advice in done.stderr and "dvc pull" not in done.stderr  # no dvc.lock: nothing to pull
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data/prepared").exists()
