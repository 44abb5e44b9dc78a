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


def hostile_corpus(folder, tiny_corpus):
    """The tiny corpus with a stray space in one test row and two test dialogues copied into train."""
    folder.mkdir()
    rows = {s: [json.loads(line) for line in (tiny_corpus / f"{s}.jsonl").read_text().splitlines()]
            for s in dialogsum.SPLITS}
    rows["test"][4]["dialogue"] += " "  # test_1_2
    rows["train"] += [{"id": f"copied_{i}", "dialogue": rows["test"][3 * i]["dialogue"], "summary": "s",
                       "topic": "t"} for i in (0, 2)]
    for split, split_rows in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split_rows))
    return folder


def test_prepare_counts_dialogues_by_id_and_warns_on_cut_summaries_and_overlap(in_tmp, tiny_model, tiny_corpus,
                                                                                capsys):
    corpus = hostile_corpus(in_tmp / "corpus", tiny_corpus)
    splits = run_prepare(in_tmp, tiny_model, corpus, max_target_length=4, max_source_length=40)
    out, err = capsys.readouterr()
    assert "test: 18 rows, 6 dialogues, 6 dialogues cut to fit 40 prompt tokens" in out, \
        "a stray space makes no seventh dialogue, and cut prompts are counted in dialogues, not rows"
    assert "train: 26 rows, 26 dialogues" in out
    assert "warning: train: 24 summaries of 24 of 26 dialogues are longer than data.max_target_length (4" in err
    assert "warning: test: 2 of 6 dialogues (first 'test_0') are also in train" in err
    assert "warning: validation: 8 summaries of 8 of 8 dialogues" in err and err.count("are also in train") == 1
    assert all(len(labels) <= 4 for labels in splits["train"]["labels"])


def test_summaries_cut_to_nothing_are_refused(in_tmp, tiny_model, tiny_corpus):
    with pytest.raises(dialogsum.UserError, match=r"params.yaml: data.max_target_length: 1 token\(s\) hold only "
                                                  r"the tokenizer's 1 special token"):
        run_prepare(in_tmp, tiny_model, tiny_corpus, max_target_length=1)
    assert not (in_tmp / "data/prepared").exists()


def test_a_dialogue_summarize_would_refuse_stops_prepare_before_anything_is_written(in_tmp, tiny_model, tiny_corpus):
    """The check summarize and serve apply (stages/data/dialogue.py), over every row of every split: here a test
    dialogue of characters the tokenizer never saw, which the first train dialogues cannot reveal."""
    from stages.io.errors import UserError

    corpus = shutil.copytree(tiny_corpus, in_tmp / "corpus")
    row = {"id": "zz_1", "dialogue": "#Person1#: " + "\u5927\u5bb6\u597d " * 40, "summary": "s"}
    with (corpus / "test.jsonl").open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    with pytest.raises(UserError, match=r"split 'test', row 19 \(id 'zz_1'\): the dialogue is 9\d% characters "
                                        r"the model's tokenizer does not know"):
        run_prepare(in_tmp, tiny_model, corpus)
    assert not (in_tmp / "data").exists() and not (in_tmp / "models").exists()
