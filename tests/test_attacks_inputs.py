"""Issue 10, the input side: hostile and careless inputs to prepare, evaluate and summarize.

Each attack asserts the exit code, one `error:` line and no traceback, and what is on disk afterwards.
CLIs run in-process through stages.io.errors.run (the same wrapper `python -m stages.x` uses): no subprocess
start-up, the same exit code and stderr.
"""
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest
import torch
import yaml

from project import env, tiny_params, write_params
from stages.training import adapters
from stages import evaluate, prepare, summarize
from stages.data import dialogsum, formats, loading, prompts, sources
from stages.modeling import identity, models
from stages.io import params, proof
from stages.scoring import records, rouge
from stages.io.errors import ParamsError, UserError, run

# Real DialogSum test references (test_30_1, test_84_1, test_127_1), copied as text: the tests never read the corpus.
REAL = {
    "Mr. Polly is tired and wants a break from work. #Person1# cannot buy a bottle of soft drink for him.":
        ["Mr. Polly is tired and wants a break from work.", "#Person1# cannot buy a bottle of soft drink for him."],
    "#Person1# gets lost on the way to Liu Ichang. #Person2# tells #Person1# to take Bus No. 713 because it's far.":
        ["#Person1# gets lost on the way to Liu Ichang.",
         "#Person2# tells #Person1# to take Bus No. 713 because it's far."],
    "Mr. Smith tells #Person1# that he is 27 and gets a B.A. in Economics at Yale University. During the last "
    "five years, he has worked in a bank for $500 a week.":
        ["Mr. Smith tells #Person1# that he is 27 and gets a B.A. in Economics at Yale University.",
         "During the last five years, he has worked in a bank for $500 a week."],
}


def fails(capsys, main, *args) -> str:
    """Run a CLI's main as `python -m` does; it must exit 1 with exactly one error line and no traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run(main, *args)
    err = capsys.readouterr().err
    assert stopped.value.code == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model, tiny_corpus):
    """A prepared tiny project (models/base, data/prepared) with an untrained LoRA adapter in models/lora."""
    root = tmp_path_factory.mktemp("attacks")
    write_params(root, tiny_params(tiny_model, tiny_corpus))
    here = os.getcwd()
    os.chdir(root)
    try:
        prepare.main()
        lora = SimpleNamespace(r=2, alpha=2, dropout=0.0, target_modules=["q", "v"])
        adapters.add(models.load_model(), lora).save_pretrained(models.LORA)
        identity.record(models.LORA, models.BASE)  # as train_lora saves it: the proof of its tokenizer
    finally:
        os.chdir(here)
    return root


@pytest.fixture
def at(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def model_folder(tmp_path, tiny_model, drop=(), name="model") -> Path:
    folder = tmp_path / name
    shutil.copytree(tiny_model, folder)
    for file in drop:
        (folder / file).unlink()
    return folder


def prepare_with(folder: Path, tiny_model, tiny_corpus, **changes) -> None:
    p = tiny_params(tiny_model, tiny_corpus)
    for key, value in changes.items():
        section, name = key.split("__")
        p[section][name] = value
    write_params(folder, p)


def nothing_prepared(folder: Path) -> bool:
    return not (folder / "data/prepared").exists() and not (folder / "models/base").exists()


# ---- item 2: tokenizer files and <unk> ---------------------------------------------------------------

def test_a_model_folder_without_tokenizer_files_is_refused(in_tmp, tiny_model, tiny_corpus, capsys):
    folder = model_folder(in_tmp, tiny_model, drop=("tokenizer.json", "tokenizer_config.json"))
    prepare_with(in_tmp, folder, tiny_corpus)
    assert "holds no tokenizer files" in fails(capsys, prepare.main)
    assert nothing_prepared(in_tmp)


def wrong_tokenizer(folder: Path) -> None:
    """A real tokenizer file, but one that knows only digits: English comes out as <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(["0 1 2 3 4 5 6 7 8 9 10 42"] * 20, trainers.UnigramTrainer(
        vocab_size=20, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                            model_max_length=512).save_pretrained(folder)


def test_a_tokenizer_that_reads_the_data_as_unk_is_refused(in_tmp, tiny_model, tiny_corpus, capsys):
    folder = model_folder(in_tmp, tiny_model)
    wrong_tokenizer(folder)
    prepare_with(in_tmp, folder, tiny_corpus)
    error = fails(capsys, prepare.main)
    assert "into <unk>" in error and "first 24 train dialogues" in error
    assert nothing_prepared(in_tmp)


def test_text_the_tokenizer_cannot_represent_is_warned_with_its_share(in_tmp, tiny_model, tiny_corpus, capsys):
    corpus = in_tmp / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    rows = [json.loads(line) for line in (corpus / "test.jsonl").read_text().splitlines()]
    for row in rows:
        row["dialogue"] += "\n#Person2#: 张三 想 去 银行 开 一个 账户 ， 谢谢 你 。"
    (corpus / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    prepare_with(in_tmp, tiny_model, corpus)
    prepare.main()
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("warning: test:")]
    assert len(warned) == 1 and "% of prompt tokens are <unk>" in warned[0]
    assert "warning: train:" not in err
    tokenizer = models.load_tokenizer()
    share = sum(row.count(tokenizer.unk_token_id) for row in dialogsum.load_prepared("test")["input_ids"]) / \
        sum(len(row) for row in dialogsum.load_prepared("test")["input_ids"])
    assert f"{share:.1%}" in warned[0]


# ---- item 3: safetensors only ----------------------------------------------------------------------

class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("kind", ["state_dict", "malicious"])
def test_prepare_loads_safetensors_only(in_tmp, tiny_model, tiny_corpus, capsys, kind):
    folder = model_folder(in_tmp, tiny_model, drop=("model.safetensors",))
    if kind == "state_dict":
        torch.save(models.load_model(tiny_model).state_dict(), folder / "pytorch_model.bin")
    else:
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": Payload(in_tmp / "pwned")}))
    prepare_with(in_tmp, folder, tiny_corpus)
    error = fails(capsys, prepare.main)
    assert "only safetensors weights are loaded" in error and "save_pretrained" in error
    assert not (in_tmp / "pwned").exists() and nothing_prepared(in_tmp)


def test_a_pickle_only_hub_repo_gets_the_same_paragraph():
    refused = OSError("org/m does not appear to have a file named model.safetensors or model.safetensors.index.json "
                      "and thus cannot be loaded with `safetensors`. Please do not set `use_safetensors=True`.")
    assert "only safetensors weights are loaded" in str(models.weights.explain(refused, "'org/m'", False))


@pytest.mark.parametrize("keep", [4, 100, -1000])
def test_a_truncated_safetensors_file_is_one_message(in_tmp, tiny_model, tiny_corpus, capsys, keep):
    folder = model_folder(in_tmp, tiny_model)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[:keep])
    prepare_with(in_tmp, folder, tiny_corpus)
    assert "are damaged" in fails(capsys, prepare.main)
    assert nothing_prepared(in_tmp)
    assert "truncated or corrupt" in fails(capsys, models.load_model, folder)  # later stages' loader too


def test_a_pickle_only_folder_is_refused_by_later_stages_too(tmp_path, tiny_model, capsys):
    folder = model_folder(tmp_path, tiny_model, drop=("model.safetensors",))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": Payload(tmp_path / "pwned")}))
    assert "only safetensors weights are loaded" in fails(capsys, models.load_model, folder)
    assert not (tmp_path / "pwned").exists()


def test_a_truncated_adapter_is_one_message(at, tmp_path, capsys):
    adapter = tmp_path / "adapter"
    shutil.copytree(at / "models/lora", adapter)
    (adapter / "adapter_model.safetensors").write_bytes(b"\x08\x00")
    assert "are damaged" in fails(capsys, models.load_adapter, models.load_model(), adapter)


# ---- item 4: nothing a user named is deleted -----------------------------------------------------------

def test_export_never_deletes_a_folder_of_other_files(at, capsys):
    mine = at / "mine"
    mine.mkdir(exist_ok=True)
    (mine / "thesis.tex").write_text("years of work")
    before = listing(mine)
    assert "holds other files" in fails(capsys, summarize.main, ["export", "--out", str(mine)])
    assert listing(mine) == before


def test_export_never_overwrites_a_pipeline_output(at, capsys):
    before = listing(at / "models/base")
    for out in ("models/base", "models/full", "models/lora", "data/prepared", "./models/../models/base", "models",
                "models/base/sub"):
        assert "pipeline's output" in fails(capsys, summarize.main, ["export", "--out", out, "--force"])
    for out in (".", "..", str(at)):  # --force on the project itself would delete it
        assert "the project folder" in fails(capsys, summarize.main, ["export", "--out", out, "--force"])
    assert listing(at / "models/base") == before


def test_export_replaces_its_own_folder_and_force_replaces_others(at, capsys):
    out = at / "exported"
    shutil.rmtree(out, ignore_errors=True)
    summarize.main(["export", "--out", str(out)])
    assert (out / proof.MARKER).is_file() and (out / "model.safetensors").is_file()
    summarize.main(["export", "--out", str(out)])  # the second run: our folder, as we left it, is replaced
    (out / "NOTES.txt").write_text("my notes on this model")  # the case: a file the user added since
    before = listing(out)
    assert "NOTES.txt was not written by this command" in fails(capsys, summarize.main, ["export", "--out", str(out)])
    assert listing(out) == before
    (out / "NOTES.txt").unlink()
    (out / "config.json").write_text('{"edited": "by hand"}')
    assert "config.json changed since" in fails(capsys, summarize.main, ["export", "--out", str(out)])
    assert (out / "config.json").read_text() == '{"edited": "by hand"}'
    (out / proof.MARKER).unlink()
    assert "holds other files" in fails(capsys, summarize.main, ["export", "--out", str(out)])
    summarize.main(["export", "--out", str(out), "--force"])
    assert (out / proof.MARKER).is_file()
    file = at / "a-file"
    file.write_text("x")
    assert "is a file" in fails(capsys, summarize.main, ["export", "--out", str(file), "--force"])
    assert file.read_text() == "x"


def scorer_inputs(folder: Path, tiny_corpus) -> Path:
    references = [json.loads(line) for line in (tiny_corpus / "test.jsonl").read_text().splitlines()]
    predictions = folder / "pred.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": r["summary"]}) + "\n" for r in references))
    return predictions


def test_scorer_output_never_replaces_a_directory_or_a_foreign_file(at, tiny_corpus, capsys):
    predictions = scorer_inputs(at, tiny_corpus)
    base = ["--predictions", str(predictions), "--references", str(tiny_corpus / "test.jsonl")]
    folder = at / "results"
    folder.mkdir(exist_ok=True)
    (folder / "keep.txt").write_text("keep")
    for force in ([], ["--force"]):
        assert "is a directory" in fails(capsys, evaluate.main, [*base, "--output", str(folder), *force])
    assert (folder / "keep.txt").read_text() == "keep"

    notes = at / "notes.json"
    notes.write_text('{"my": "notes"}')
    assert "nothing shows this command wrote it" in fails(capsys, evaluate.main, [*base, "--output", str(notes)])
    assert json.loads(notes.read_text()) == {"my": "notes"}
    mine = at / "my_scores.json"  # the user's own scores, in the very layout this command writes
    mine.write_text(json.dumps({mode: {"rouge1": 0.99} for mode in rouge.MODES}))
    assert "nothing shows this command wrote it" in fails(capsys, evaluate.main, [*base, "--output", str(mine)])
    assert json.loads(mine.read_text())["flat"] == {"rouge1": 0.99}
    evaluate.main([*base, "--output", str(notes), "--force"])
    assert set(json.loads(notes.read_text())) == set(rouge.MODES)
    evaluate.main([*base, "--output", str(notes)])  # the second run replaces the first one's file
    assert set(json.loads(notes.read_text())) == set(rouge.MODES)
    notes.write_text(notes.read_text().replace("rouge1", "rouge_1", 1))  # an earlier run's file, edited by hand
    assert "the file changed since" in fails(capsys, evaluate.main, [*base, "--output", str(notes)])
    assert "rouge_1" in notes.read_text()
    assert "pipeline's output" in fails(capsys, evaluate.main, [*base, "--output", "metrics/rouge.json", "--force"])


@pytest.mark.parametrize("where, message", [("a-file/scores.json", "is a file"),
                                            ("/sys/scores.json", "cannot write in /sys")])
def test_unwritable_outputs_stop_before_the_work(at, tiny_corpus, capsys, where, message):
    if where.startswith("/sys") and not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    (at / "a-file").write_text("x")
    predictions = scorer_inputs(at, tiny_corpus)
    error = fails(capsys, evaluate.main, ["--predictions", str(predictions), "--output", where])
    assert message in error
    (at / "in.jsonl").write_text(json.dumps({"id": "a", "dialogue": "#Person1#: Hi.\n#Person2#: Hello."}) + "\n")
    assert message in fails(capsys, summarize.main, ["--model", "base", "--jsonl", "in.jsonl", "--out", where])
    assert (at / "a-file").read_text() == "x"


def test_summarize_out_refuses_a_foreign_file_and_replaces_its_own(at, capsys):
    (at / "in.jsonl").write_text(json.dumps({"id": "a", "dialogue": "#Person1#: Hi.\n#Person2#: Hello."}) + "\n")
    notes = at / "notes.jsonl"
    notes.write_text('{"id": 1, "diary": "private"}\n')
    assert "nothing shows this command wrote it" in fails(capsys, summarize.main, [
        "--model", "base", "--jsonl", "in.jsonl", "--out", str(notes)])
    assert "private" in notes.read_text()
    gold = at / "gold.jsonl"  # the case: the user's own references, in this command's very layout
    gold.write_text('{"id": "a", "summary": "my gold summary, written by hand"}\n')
    assert "nothing shows this command wrote it" in fails(capsys, summarize.main, [
        "--model", "base", "--jsonl", "in.jsonl", "--out", str(gold)])
    assert "written by hand" in gold.read_text()
    out = at / "summaries.jsonl"
    out.unlink(missing_ok=True)
    for _ in range(2):  # the second run replaces the first one's file
        summarize.main(["--model", "base", "--jsonl", "in.jsonl", "--out", str(out)])
    assert [set(json.loads(line)) for line in out.read_text().splitlines()] == [{"id", "summary"}]
    out.write_text('{"id": "a", "summary": "corrected by hand"}\n')
    assert "the file changed since" in fails(capsys, summarize.main, [
        "--model", "base", "--jsonl", "in.jsonl", "--out", str(out)])
    summarize.main(["--model", "base", "--jsonl", "in.jsonl", "--out", str(out), "--force"])
    assert "corrected by hand" not in out.read_text()


def test_atomic_path_never_swaps_a_folder_for_a_file(tmp_path):
    from stages.io.files import write_text

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("keep")
    with pytest.raises(UserError, match="is a folder where a file was to be written"):
        write_text(tmp_path / "x", "data")
    assert (tmp_path / "x" / "keep").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


# ---- item 7: prompt template, binary input, BOM ----------------------------------------------------

@pytest.mark.parametrize("prompt", ["Summarize { this:\n{dialogue}", "{dialogue}}", "{dialogue!r}", "{dialogue:.10}",
                                    "{0} {dialogue}", "{} {dialogue}", "{dialogue[0]}", "{dialogue.upper}"])
def test_a_prompt_that_cannot_be_filled_as_written_names_data_prompt(prompt, tiny_model, tiny_corpus):
    raw = tiny_params(tiny_model, tiny_corpus)
    raw["data"]["prompt"] = prompt
    with pytest.raises(ParamsError) as caught:
        params.parse(raw)
    assert caught.value.key == "data.prompt" and "\n" not in str(caught.value)


def test_literal_braces_still_work(tiny_model, tiny_corpus):
    raw = tiny_params(tiny_model, tiny_corpus)
    raw["data"]["prompt"] = "Summarize {{as JSON}}:\n{dialogue}\nSummary: "
    assert params.parse(raw).data.prompt.count("{dialogue}") == 1


@pytest.mark.parametrize("content, message", [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
                                              (b"#Person1: caf\xe9\n", "line 1: not valid UTF-8"),
                                              (b"#Person1#: hi\n#Person2#: \xff\xfe", "line 2: not valid UTF-8")])
def test_binary_input_to_summarize(at, capsys, monkeypatch, content, message):
    (at / "input.bin").write_bytes(content)
    assert message in fails(capsys, summarize.main, ["--model", "base", "input.bin"])
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(content), isatty=lambda: False))
    assert message in fails(capsys, summarize.main, ["--model", "base"])


def test_a_bom_is_not_part_of_the_first_column(tmp_path):
    (tmp_path / "p.csv").write_bytes("\ufeffid,prediction\r\na,Tom goes home.\r\n".encode("utf-8"))
    assert records.read_predictions(tmp_path / "p.csv") == {"a": (2, "Tom goes home.")}
    (tmp_path / "p.jsonl").write_bytes("\ufeff".encode() + b'{"id": "a", "prediction": "x"}\n')
    assert records.read_predictions(tmp_path / "p.jsonl") == {"a": (1, "x")}


def test_summarize_reads_a_bom_file(at, capsys):
    (at / "bom.txt").write_bytes("\ufeff#Person1#: Hi.\n#Person2#: Hello.".encode("utf-8"))
    assert summarize.read_dialogues(summarize.parser("summarize").parse_args(["bom.txt"])) == \
        {"bom.txt": "#Person1#: Hi.\n#Person2#: Hello."}


# ---- item 9: text ROUGE cannot see ----------------------------------------------------------------

def test_identical_non_latin_summaries_are_warned_not_reported_as_fact(tmp_path, capsys):
    references = [{"id": "a", "dialogue": "d1", "summary": "张三去银行开户。"},
                  {"id": "b", "dialogue": "d2", "summary": "Иван идёт в банк."},
                  {"id": "c", "dialogue": "d3", "summary": "Tom goes to the bank."}]
    path = tmp_path / "refs.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in references))
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": r["summary"]}, ensure_ascii=False) + "\n"
                                   for r in references))
    refs = records.read_references(path)
    modes = evaluate.score(evaluate.matched(predictions, refs, str(path)), refs, str(path))
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "2 of 3 references" in warned[0] and "66.7%" in warned[0]
    assert modes["flat"].values[:, 0].tolist() == [0.0, 0.0, 1.0]  # what rouge_score gives: hence the warning
    assert rouge.warn_unscorable(["Tom goes home."], "x") == 0 and capsys.readouterr().err == ""


# ---- also correct: truncation, sentence splitter, snapshot bytes, revisions, dvc pull hint -----------

def test_truncation_cuts_the_dialogue_and_keeps_the_instruction(tiny_model):
    tokenizer = models.load_tokenizer(tiny_model)
    template = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
    short = "#Person1#: Hello.\n#Person2#: Hi."
    long = "\n".join(["#Person1#: Good morning, welcome to the bank. How can I help you?"] * 30)
    encoded = prompts.encode(tokenizer, template, [short, long, long + " Bye."], 60)
    assert encoded.truncated == 2 and encoded.over[0] == 0
    assert encoded.input_ids[0] == tokenizer(template.format(dialogue=short))["input_ids"]  # untouched
    suffix = tokenizer("\n\nSummary: ", add_special_tokens=False)["input_ids"]
    assert encoded.over[1] == len(tokenizer(template.format(dialogue=long))["input_ids"]) - 60
    for ids in encoded.input_ids[1:]:
        assert 55 <= len(ids) <= 60  # filled up to the limit, give or take a token merged at the cut
        text = tokenizer.decode(ids, skip_special_tokens=True)
        assert text.startswith("Summarize the following conversation.") and text.rstrip().endswith("Summary:")
        assert ids[-1] == tokenizer.eos_token_id and ids[-len(suffix):-1] == suffix[1:]  # first: merged at the seam
    with pytest.raises(ParamsError, match="data.max_source_length"):
        prompts.encode(tokenizer, template, [long], 5)


def test_prepare_and_summarize_encode_alike_and_count_cuts_exactly(at, capsys):
    p = params.load()
    tokenizer = models.load_tokenizer()
    texts = ["#Person1#: Hello.", "\n".join(["#Person2#: I would like to open an account, please."] * 80)]
    rows = [{"id": str(i), "dialogue": t, "summary": "s"} for i, t in enumerate(texts)]
    table = dialogsum.tokenize(rows, tokenizer, p.data.prompt, p.data.max_source_length, p.data.max_target_length)
    assert summarize.encode(tokenizer, dict(enumerate(texts)), p.data, strict=False) == table["input_ids"]
    assert [n > 0 for n in table["over_length"]] == [False, True]
    assert "the end of the dialogue is cut" in capsys.readouterr().err


@pytest.mark.parametrize("text, sentences", list(REAL.items()))
def test_sentence_splitter_knows_abbreviations(text, sentences):
    assert rouge.split_sentences(text).split("\n") == sentences


def test_sentence_splitter_still_splits_real_ends():
    assert rouge.split_sentences("He left at 9 a.m. and came back. She stayed, e.g. at home. Done etc. Next one.") \
        .split("\n") == ["He left at 9 a.m. and came back.", "She stayed, e.g. at home.", "Done etc.", "Next one."]
    assert rouge.split_sentences("Dr.\nWho") == "Dr.\nWho"  # a newline is always an end


SNAPSHOT = "import sys; from stages.modeling import models; models.snapshot_base(sys.argv[1], 'main', out=sys.argv[2])"


def hub_cache(cache: Path, model: Path, repo="tiny-org/tiny-t5", sha="a" * 40) -> str:
    """The model laid out as the Hub cache holds a download, so it loads as a Hub id offline."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(model, folder / "snapshots" / sha)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(sha)
    return repo


def test_the_base_snapshot_is_the_same_bytes_online_offline_and_from_the_hub_cache(tmp_path, tiny_model):
    root = Path(__file__).resolve().parents[1]
    repo = hub_cache(tmp_path / "hub", tiny_model)
    runs = {"offline": ("1", str(tiny_model)), "online": ("0", str(tiny_model)), "hub cache": ("1", repo)}
    for name, (offline, source) in runs.items():
        subprocess.run([sys.executable, "-c", SNAPSHOT, source, str(tmp_path / name)], cwd=root, check=True,
                       env={**env(), "HF_HUB_OFFLINE": offline, "HF_HUB_CACHE": str(tmp_path / "hub"),
                            "PYTHONPATH": str(root)}, capture_output=True, timeout=300)
    first = listing(tmp_path / "offline")
    assert "tokenizer_config.json" in first and "model.safetensors" in first
    assert b"local_files_only" not in first["tokenizer_config.json"]
    for name in ("online", "hub cache"):
        assert listing(tmp_path / name) == first, name


def test_revisions_are_resolved_to_shas_and_branches_warned(capsys):
    calls = []

    def resolver(kind, repo, revision):
        calls.append((kind, repo, revision))
        return "b" * 40

    entry = sources.resolve("dataset", "knkarthick/dialogsum", "main", local=False, resolver=resolver)
    assert entry == {"name": "knkarthick/dialogsum", "revision": "main", "sha": "b" * 40}
    assert "data.revision is 'main'" in capsys.readouterr().err and calls == [("dataset", "knkarthick/dialogsum", "main")]
    pinned = sources.resolve("model", "google/flan-t5-base", "c" * 40, local=False, resolver=resolver)
    assert pinned["sha"] == "c" * 40 and len(calls) == 1 and capsys.readouterr().err == ""

    def offline(kind, repo, revision):
        raise ConnectionError("no network")

    assert sources.resolve("model", "org/m", "v1.0", local=False, resolver=offline)["sha"] is None
    err = capsys.readouterr().err
    assert "could not resolve model 'org/m'" in err and "model.revision is 'v1.0'" in err
    assert sources.resolve("model", "/models/t5", "main", local=True) == {"name": "/models/t5", "local": True}


def test_prepare_loads_the_resolved_sha_and_records_it(in_tmp, tiny_model, tiny_corpus, monkeypatch, capsys):
    prepare_with(in_tmp, tiny_model, "org/dialogs", data__revision="main")
    monkeypatch.setattr(sources, "hub_sha", lambda kind, repo, revision: "d" * 40)
    monkeypatch.setattr(sources.resolve, "__defaults__", (sources.hub_sha, None))
    seen = {}
    real = {split: datasets.Dataset.from_list(formats.read(tiny_corpus / f"{split}.jsonl").rows)
            for split in dialogsum.SPLITS}

    def hub_load(source, config, revision):  # the download itself, stood in for
        seen.update(source=source, revision=revision)
        return real

    monkeypatch.setattr(loading, "hub_load", hub_load)
    monkeypatch.setattr(sources, "hub_card", lambda repo, revision: {})  # the dataset card: nothing said
    prepare.main()
    assert seen == {"source": "org/dialogs", "revision": "d" * 40}
    recorded = json.loads((in_tmp / sources.SOURCES).read_text())
    assert recorded["data"] == {"name": "org/dialogs", "revision": "main", "sha": "d" * 40,
                                "license": "cc-by-nc-sa-4.0", "title": "DialogSum"}  # data.license, data.name
    assert {k: recorded["model"][k] for k in ("name", "local")} == {"name": str(tiny_model), "local": True}
    assert recorded["model"]["built"]["weights"] == "random"  # the tiny model's scratch.json, carried for the card
    assert recorded["dialogues"] == {"train": 24, "validation": 8, "test": 6}  # each split's size before subsamples
    assert "data.revision is 'main'" in capsys.readouterr().err


def test_sources_file_is_a_git_tracked_output_of_prepare():
    stages = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]
    outs = stages["prepare"]["outs"]
    assert {"data/sources.json": {"cache": False}} in outs
    assert "stages/data" in stages["prepare"]["deps"]  # sources.py is in the data package


def test_dvc_pull_is_suggested_only_where_there_is_a_lock(in_tmp):
    with pytest.raises(UserError) as without:
        dialogsum.load_prepared("test")
    assert "dvc pull" not in str(without.value)
    (in_tmp / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    with pytest.raises(UserError) as with_lock:
        dialogsum.load_prepared("test")
    assert "dvc pull" in str(with_lock.value)


# ---- found by attacking the CLIs -----------------------------------------------------------------------

@pytest.mark.parametrize("name, message", [("config.json", "is a file; point it at the model's folder"),
                                           ("./no-such-model", "is not a folder (no such directory)")])
def test_model_name_that_is_not_a_folder(in_tmp, tiny_model, tiny_corpus, capsys, name, message):
    prepare_with(in_tmp, tiny_model / name if name == "config.json" else name, tiny_corpus)
    assert message in fails(capsys, prepare.main)
    assert nothing_prepared(in_tmp)


def test_a_missing_pipeline_model_is_not_looked_up_on_the_hub(in_tmp, capsys):
    error = fails(capsys, models.load_tokenizer)
    assert "models/base does not exist: run `dvc repro`" in error and "Hugging Face" not in error


def test_a_dialogue_that_is_not_text(at, capsys):
    (at / "in.jsonl").write_text('{"id": 1, "dialogue": 5}\n')
    assert "dialogue 1 is int, not text" in fails(capsys, summarize.main, ["--model", "base", "--jsonl", "in.jsonl"])
