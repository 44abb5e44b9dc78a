"""The summarize CLI: same prompt and decoding as the pipeline, clear input errors, adapter switching, export."""
import dataclasses
import io
import json
import re
import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

from numerics import with_rounding_bound
from project import make_project
from stages import prepare, summarize, train_lora
from stages.data import dialogsum
from stages.inference import decode
from stages.modeling import models
from stages.io import params
from stages.io.errors import UserError


@pytest.fixture(scope="module")
def project(tmp_path_factory, lively_model, tiny_corpus):
    """A prepared tiny project with two trained adapters, models/lora (r=2) and models/lora_r4 (r=4). The base is
    the livened tiny model: on the untrained one both adapters write one string for every dialogue, and the
    comparisons of summaries below would pass whatever order or adapter they came from."""
    root = make_project(tmp_path_factory.mktemp("summarize") / "project", lively_model, tiny_corpus)
    here = os.getcwd()
    os.chdir(root)
    try:
        prepare.main()
        for rank in (4, 2):  # r=2 last, so it is the models/lora the pipeline's `lora` means
            raw = yaml.safe_load((root / "params.yaml").read_text())
            raw["lora"]["r"] = raw["lora"]["alpha"] = rank
            raw["train_lora"].update(max_steps=30, logging_steps=10, eval_steps=0, save_steps=0)
            (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
            train_lora.main()
            if rank == 4:
                (root / "models/lora").rename(root / "models/lora_r4")
        yield root
    finally:
        os.chdir(here)


@pytest.fixture
def at(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def dialogues():
    """The distinct test dialogues and the prompt ids the pipeline built for them."""
    split = dialogsum.load_prepared("test")
    first = {}
    for text, ids in zip(split["dialogue"], split["input_ids"]):
        first.setdefault(text, ids)
    return first


def pipeline_summaries(which):
    """What `generate@which` writes for each test dialogue."""
    p = params.load()
    model = decode.load(which, "fp32")
    found = dialogues()
    return dict(zip(found, decode.summarize(model, models.load_tokenizer(), list(found.values()), p.generate,
                                              progress=False)))


def test_batch_and_single_dialogue_match_the_pipeline(at, capsys, monkeypatch):
    expected = pipeline_summaries("lora")
    texts = list(expected)
    assert len(set(expected.values())) > 1, "one summary for every dialogue: mixing up the order would pass"
    p = params.load()
    encoded = summarize.encode(models.load_tokenizer(), dict(enumerate(texts)), p.data, strict=True)
    assert encoded == list(dialogues().values())  # the very prompt ids the pipeline trained and generated with
    source = at / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"d{i}", "dialogue": t}) + "\n" for i, t in enumerate(texts)))
    summarize.main(["--model", "lora", "--jsonl", str(source), "--out", str(at / "out.jsonl")])
    rows = [json.loads(line) for line in (at / "out.jsonl").read_text().splitlines()]
    assert rows == [{"id": f"d{i}", "summary": expected[t]} for i, t in enumerate(texts)]

    (at / "one.txt").write_text(texts[0] + "\n")
    summarize.main([str(at / "one.txt")])  # --model lora is the default
    monkeypatch.setattr(sys, "stdin", io.StringIO(texts[1]))
    summarize.main(["-"])
    assert capsys.readouterr().out.splitlines() == [expected[texts[0]], expected[texts[1]]]


def test_empty_and_overlong_dialogues(at, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    with pytest.raises(UserError, match="empty"):
        summarize.main(["--model", "base"])
    source = at / "bad.jsonl"
    source.write_text(json.dumps({"id": "x", "dialogue": ""}) + "\n")
    with pytest.raises(UserError, match="dialogue x is empty"):
        summarize.main(["--model", "base", "--jsonl", str(source)])

    p = params.load()
    long_text = "\n".join([next(iter(dialogues()))] * 40)
    tokens = len(models.load_tokenizer()(dialogsum.build_prompt(p.data.prompt, long_text))["input_ids"])
    over = tokens - p.data.max_source_length
    assert over > 0
    (at / "long.txt").write_text(long_text)
    capsys.readouterr()
    summarize.main(["--model", "base", str(at / "long.txt")])
    captured = capsys.readouterr()
    assert f"{tokens} tokens with the prompt, {over} more than data.max_source_length" in captured.err
    assert len(captured.out.splitlines()) == 1  # warned, then summarized the truncated dialogue
    assert "the end of the dialogue is cut (the instruction around it is kept)" in captured.err
    with pytest.raises(UserError, match=f"{over} more than data.max_source_length"):
        summarize.main(["--model", "base", "--strict", str(at / "long.txt")])


def logits(model, inputs):
    """Next-token scores for the first decoder step and a few more: the full signal behind greedy text."""
    batch = models.load_tokenizer().pad({"input_ids": inputs}, return_tensors="pt")
    labels = torch.zeros((len(inputs), 4), dtype=torch.long)
    with torch.inference_mode():
        return model(**batch, decoder_input_ids=labels).logits


def test_adapters_switch_on_one_base(at, capsys):
    texts = list(dialogues())
    p = params.load()
    tokenizer = models.load_tokenizer()
    inputs = summarize.encode(tokenizer, dict(enumerate(texts)), p.data, strict=True)
    alone = {name: summarize.load(path, "fp32") for name, path in (("r2", "models/lora"), ("r4", "models/lora_r4"))}
    text = {name: decode.summarize(model, tokenizer, inputs, p.generate, progress=False)
            for name, model in alone.items()}
    # each adapter's logits alone, and how far rounding alone can move them (tests/numerics.py)
    scores = {name: with_rounding_bound(model, lambda m=model: logits(m, inputs), torch.float32)
              for name, model in alone.items()}
    assert not torch.allclose(scores["r2"][0], scores["r4"][0], atol=1e-3), "two adapters should score differently"
    assert text["r2"] != text["r4"], "the two adapters' summaries must differ, or switching would be unseen"

    model = summarize.load_adapters({"r2": at / "models/lora", "r4": at / "models/lora_r4"}, "fp32")
    base = model.get_base_model()
    weight = base.encoder.block[0].layer[0].SelfAttention.q.base_layer.weight
    pointer = weight.data_ptr()
    for name in ("r2", "r4", "r2"):
        model.set_adapter(name)
        (switched, bound), (expected, alone_bound) = with_rounding_bound(model, lambda: logits(model, inputs),
                                                                         torch.float32), scores[name]
        assert (switched - expected).abs().max().item() <= bound + alone_bound
        assert decode.summarize(model, tokenizer, inputs, p.generate, progress=False) == text[name]
        assert model.get_base_model() is base and weight.data_ptr() == pointer  # never reloaded nor merged

    (at / "one.txt").write_text(texts[0])
    summarize.main(["--adapter", "r2=models/lora", "--adapter", "r4=models/lora_r4", str(at / "one.txt")])
    assert capsys.readouterr().out.splitlines() == [f"[r2] {text['r2'][0]}", f"[r4] {text['r4'][0]}"]
    with pytest.raises(UserError, match="NAME=DIR"):
        summarize.main(["--adapter", "models/lora", str(at / "one.txt")])


@pytest.mark.parametrize("value, words", [
    ("a.b=models/lora", "the name 'a.b' is not one an adapter can have"),  # peft was blamed on the base model
    ("r 8=models/lora", "the name 'r 8' is not one"),
    ("\x1b[2J=models/lora", "the name '\\x1b[2J' is not one"),  # shown escaped, never run by the terminal
    ("forward=models/lora", "the name forward is one torch's module tables use themselves"),
    ("keys=models/lora", "the name keys is one torch's module tables use"),
    ("models/lora", "write NAME=DIR"),
    ("r8=", "write NAME=DIR"),
])
def test_an_adapter_name_peft_cannot_use_is_refused_as_such(value, words):
    with pytest.raises(UserError) as refused:
        summarize.adapter_pairs(["r2=models/lora", value])
    assert words in str(refused.value) and "base model" not in str(refused.value)
    assert summarize.adapter_pairs(["r8=a", "lora=b", "x-y_2=c"]) == {"r8": Path("a"), "lora": Path("b"),
                                                                       "x-y_2": Path("c")}


def test_exported_model_matches_its_adapter(at):
    summarize.main(["export", "--adapter", "models/lora_r4", "--out", "models/merged_r4"])
    names = sorted(path.name for path in (at / "models/merged_r4").iterdir())
    assert "model.safetensors" in names and "config.json" in names and "adapter_config.json" not in names

    p = params.load()
    tokenizer = models.load_tokenizer()
    inputs = list(dialogues().values())
    adapter = summarize.load_adapters({"r4": at / "models/lora_r4"}, "fp32")  # unmerged: LoRA applied on the fly
    merged = summarize.load("models/merged_r4", "fp32")
    assert not hasattr(merged, "peft_config")
    # as far apart as rounding alone can take them (tests/numerics.py), not a picked tolerance
    (after, merged_bound), (before, bound) = (with_rounding_bound(m, lambda m=m: logits(m, inputs), torch.float32)
                                              for m in (merged, adapter))
    assert (after - before).abs().max().item() <= merged_bound + bound
    base = logits(summarize.load("base", "fp32"), inputs)
    assert not torch.allclose(base, logits(merged, inputs), atol=1e-3), "the merge should change the model"
    expected = decode.summarize(adapter, tokenizer, inputs, p.generate, progress=False)
    assert decode.summarize(merged, tokenizer, inputs, p.generate, progress=False) == expected


def test_train_lora_records_the_base_model_in_the_adapter(at):
    from stages.modeling import identity

    for folder in ("models/lora", "models/lora_r4"):
        recorded = json.loads((at / folder / identity.FILE).read_text())
        assert recorded["weights_sha256"] == identity.fingerprint(models.BASE)["weights_sha256"]


def test_a_file_that_appears_at_the_out_path_while_it_runs_is_never_overwritten(at, monkeypatch):
    """--out is checked before the work and again right before the write: a summarize of a large file runs for
    hours, and the user's own file put there meanwhile must survive it (as must a note put in an export folder)."""
    (at / "in.jsonl").write_text(json.dumps({"id": "a", "dialogue": "#Person1#: Hello.\n#Person2#: Hi."}) + "\n")
    real = decode.summarize

    def meanwhile(*args, **kwargs):
        (at / "late.jsonl").write_text("the user's own\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(decode, "summarize", meanwhile)
    with pytest.raises(UserError, match="--out late.jsonl already exists"):
        summarize.main(["--model", "base", "--jsonl", "in.jsonl", "--out", "late.jsonl"])
    assert (at / "late.jsonl").read_text() == "the user's own\n"

    out = at / "merged_late"
    real_merged = models.load_merged

    def merging(*args, **kwargs):
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        return real_merged(*args, **kwargs)

    monkeypatch.setattr(models, "load_merged", merging)
    with pytest.raises(UserError, match="is a folder that holds other files"):
        summarize.main(["export", "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_model_with_another_vocabulary_is_encoded_with_its_own_tokenizer(at, tmp_path, capsys):
    """Found: `--model DIR` encoded with models/base's tokenizer whatever DIR holds, and answered garbage."""
    import tiny
    from stages.scratch.model import build

    texts, p = list(dialogues()), params.load()
    # a vocabulary learned from other text: the same dialogue is other ids
    own = build(tmp_path / "other", [t.replace("#Person", "#Speaker") for t in texts] * 2 + [p.data.prompt],
                dataclasses.replace(tiny.TINY, vocab=150))
    tiny.liven(own)
    tokenizer = models.load_tokenizer(own)
    inputs = summarize.encode(tokenizer, dict(enumerate(texts)), p.data, strict=True)
    base_ids = summarize.encode(models.load_tokenizer(), dict(enumerate(texts)), p.data, strict=True)
    model = decode.load(str(own), "fp32")
    expected = decode.summarize(model, tokenizer, inputs, p.generate, progress=False)
    assert expected != decode.summarize(model, tokenizer, base_ids, p.generate, progress=False)  # what was served
    (at / "own.jsonl").write_text("".join(json.dumps({"id": i, "dialogue": t}) + "\n" for i, t in enumerate(texts)))
    summarize.main(["--model", str(own), "--jsonl", "own.jsonl"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"id": i, "summary": text} for i, text in enumerate(expected)]

    from stages.serving import backend  # the server loads each model with its own tokenizer too
    assert backend.load_backend(str(own), p).tokenizer.get_vocab() == tokenizer.get_vocab()


def test_jsonl_ids_keep_their_json_type(at, capsys):
    """Found: ids 1, true and null came back as the strings "1", "True" and "None"."""
    text = next(iter(dialogues()))
    ids = [1, "1", True, None, 1.5, "x"]
    (at / "typed.jsonl").write_text("".join(json.dumps({"id": i, "dialogue": text}) + "\n" for i in ids))
    summarize.main(["--model", "base", "--jsonl", "typed.jsonl", "--out", "typed_out.jsonl"])
    written = [json.loads(line)["id"] for line in (at / "typed_out.jsonl").read_text().splitlines()]
    assert written == ids and [type(i) for i in written] == [type(i) for i in ids]
    for bad, message in (({"a": 1}, "row 2: the id is a JSON object"), ([1], "row 2: the id is a JSON array"),
                         (1, "row 2: duplicate id 1")):
        (at / "bad.jsonl").write_text(json.dumps({"id": 1, "dialogue": text}) + "\n"
                                      + json.dumps({"id": bad, "dialogue": text}) + "\n")
        with pytest.raises(UserError, match=re.escape(message)):
            summarize.main(["--model", "base", "--jsonl", "bad.jsonl"])


HOSTILE = ["\u200b\ufeff\u2060\u200d" * 30, "#Person1#: hi\x00 there", "#Person1#: \x1b]8;;http://x\x07link",
           "\u5927" * 20_000]


@pytest.mark.parametrize("text", HOSTILE, ids=["invisible", "nul", "escape", "unknown"])
def test_what_prepare_and_serve_refuse_the_cli_refuses_with_the_same_reason(at, monkeypatch, text):
    from stages.data import dialogue

    why = dialogue.problem(text, models.load_tokenizer())
    assert why
    (at / "hostile.jsonl").write_text(json.dumps({"id": "h", "dialogue": text}) + "\n")
    with pytest.raises(UserError) as caught:
        summarize.main(["--model", "base", "--jsonl", "hostile.jsonl"])
    assert str(caught.value) == f"dialogue h {why}."
    if "\x00" not in text:  # a file holding NUL is binary data, refused as such before it is read as text
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        with pytest.raises(UserError) as caught:
            summarize.main(["--model", "base"])
        assert str(caught.value) == f"dialogue from stdin {why}."


def test_a_summary_reaches_the_terminal_as_text(at, capsys, monkeypatch):
    """Found: a summary was printed as the model wrote it: a model folder whose vocabulary decodes to ESC or C1
    codes (byte-fallback tokenizers can write any byte) could clear the screen or forge lines. Printed summaries
    are escaped; JSON on stdout keeps its value, with those characters as \\u escapes."""
    written = "ok \x1b[2J\x9b31m\u202e\rforged"
    monkeypatch.setattr(decode, "summarize", lambda model, tokenizer, inputs, cfg, progress: [written] * len(inputs))
    monkeypatch.setattr(sys, "stdin", io.StringIO("#Person1#: Hello.\n#Person2#: Hi."))
    summarize.main(["--model", "base"])
    shown = capsys.readouterr().out
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", shown) and "ok \\x1b[2J" in shown
    (at / "one.jsonl").write_text(json.dumps({"id": "a", "dialogue": "#Person1#: Hello."}) + "\n")
    summarize.main(["--model", "base", "--jsonl", "one.jsonl"])
    line = capsys.readouterr().out
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", line)
    assert json.loads(line) == {"id": "a", "summary": written}


def test_model_and_adapter_together_are_refused(at):
    """Found: `--model full --adapter r=DIR` ignored --model without a word: the adapters went onto models/base,
    whatever base the user named."""
    with pytest.raises(UserError, match="--model full and --adapter"):
        summarize.main(["--model", "full", "--adapter", "r2=models/lora", "in.txt"])


def test_a_file_of_megabytes_is_refused_before_it_is_read(at, monkeypatch):
    """A dialogue file or stdin is read at most to 4 bytes per character of the longest dialogue: a 3 GB file
    given by mistake is refused with the dialogue check's words instead of filling the memory first."""
    from stages.data import dialogue

    huge = at / "huge.txt"
    with huge.open("wb") as out:
        out.truncate(4 * dialogue.MAX_CHARS + 10)  # sparse: no disk used
    with pytest.raises(UserError, match="is over 200,000 characters"):
        summarize.main(["--model", "base", str(huge)])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a" * (4 * dialogue.MAX_CHARS + 1))))
    with pytest.raises(UserError, match="stdin is over 200,000 characters"):
        summarize.main(["--model", "base"])
