"""With the real engine (torch, fp32, the tiny model): the server's summary of a dialogue is the summarize CLI's
and the generate stage's, alone and batched."""
import json

import pytest
import torch
from fastapi.testclient import TestClient

from stages import generate, summarize
from stages.data import dialogsum
from stages.io import params
from stages.modeling import models
from stages.serving import app as app_, backend, prompting


@pytest.fixture(scope="module")
def project(prepared):
    """The prepared tiny project after `generate@base`: data/predictions/base.jsonl. Its random base model would
    write nothing (it picks </s>, <pad> or ids past the tokenizer's vocabulary first); with those tokens' output
    weights zeroed it writes words, so the summaries compared below are not all empty."""
    root, _ = prepared
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        model = models.load_model(models.BASE)
        tokenizer = models.load_tokenizer()
        with torch.no_grad():
            model.lm_head.weight[len(tokenizer):] = 0
            model.lm_head.weight[tokenizer.all_special_ids] = 0
        model.save_pretrained(models.BASE)
        generate.main("base")
    return root


@pytest.fixture
def at(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def test_backend_is_the_generate_stage_with_its_params(at):
    p = params.load()
    engine = backend.load_backend("base", p)
    described = engine.describe()
    assert {key: described[key] for key in ("engine", "model", "precision", "device", "num_beams", "max_new_tokens",
                                            "batch_size")} == {
        "engine": "torch", "model": "base", "precision": "fp32", "device": "cpu", "num_beams": p.generate.num_beams,
        "max_new_tokens": p.generate.max_new_tokens, "batch_size": p.generate.batch_size}
    assert backend.present() == ["base"]  # prepare wrote models/base; nothing trained


def test_server_cli_and_generate_stage_write_the_same_summaries(at, capsys):
    p = params.load()
    split = dialogsum.load_prepared("test")
    stage = {}  # dialogue -> what generate@base wrote for it
    for row_id, text in zip(split["id"], split["dialogue"]):
        stage.setdefault(text, row_id)
    predictions = {row["id"]: row["prediction"] for row in map(json.loads, open("data/predictions/base.jsonl"))}
    texts = list(stage)
    expected = [predictions[stage[text]] for text in texts]
    assert any(expected), "a model that writes nothing would make this test pass vacuously"

    # The server takes a request's dialogues into one engine call, as the stage and the CLI take theirs.
    served = backend.load_backend("base", p)
    service = app_.create_app({"base": served}, prompting.Prompter(p.data, {"base": served.tokenizer}),
                              batching=app_.Batching(max_batch=len(texts), max_wait_s=0.0, queue_size=64))
    with TestClient(service) as client:
        together = client.post("/summarize", json={"dialogues": texts}).json()
        alone = [client.post("/summarize", json={"dialogues": [text], "model": "base"}).json() for text in texts[:2]]
    assert [s["summary"] for s in together["summaries"]] == expected
    assert {s["batch"] for s in together["summaries"]} == {len(texts)}

    (at / "in.jsonl").write_text("".join(json.dumps({"id": str(i), "dialogue": t}) + "\n" for i, t in enumerate(texts)))
    summarize.main(["--model", "base", "--jsonl", "in.jsonl", "--out", "out.jsonl"])
    assert [json.loads(line)["summary"] for line in open("out.jsonl")] == expected
    capsys.readouterr()
    for answer, text in zip(alone, texts):
        (at / "one.txt").write_text(text)
        summarize.main(["--model", "base", "one.txt"])
        assert [answer["summaries"][0]["summary"]] == capsys.readouterr().out.splitlines()
        assert answer["summaries"][0]["batch"] == 1
