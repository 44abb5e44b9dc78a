"""Gradient accumulation and data parallelism give the loss and gradients of one big batch (stages/loss.py).

One optimizer step over the same 8 dialogues at a learning rate of ~0 with dropout off, split three ways:
micro-batch 8 x 1, micro-batch 2 x 4 accumulation steps, and 2 processes (torchrun, gloo) x 4 x 1. The logged
loss, grad norm and train_loss must agree to float precision. Run as a script, this file is one such run."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_step(model_dir, corpus, batch, accumulation, scratch) -> dict:
    """Train one optimizer step on the first 8 training dialogues; the logged loss, grad norm, train_loss."""
    import datasets
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from stages import training
    from stages.params import TrainParams

    torch.use_deterministic_algorithms(True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(line) for line in (Path(corpus) / "train.jsonl").read_text().splitlines()[:8]]
    encoded = tokenizer([r["dialogue"] for r in rows], text_target=[r["summary"] for r in rows])
    train_set = datasets.Dataset.from_dict({**encoded, "length": [len(x) for x in encoded["input_ids"]]})
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dropout_rate=0.0)  # no dropout: same maths in every split
    cfg = TrainParams(learning_rate=1e-12, epochs=1, max_steps=1, batch_size=batch, eval_batch_size=8,
                      gradient_accumulation_steps=accumulation, warmup_ratio=0.0, weight_decay=0.0,
                      logging_steps=1, eval_steps=0, save_steps=0, seed=0, precision="fp32",
                      group_by_length=False, pad_to_multiple_of=None, dataloader_workers=0)
    trainer = training.build_trainer(cfg, model, tokenizer, train_set, None, scratch, "fp32")
    result = trainer.train()
    logged = next(e for e in trainer.state.log_history if "loss" in e)
    labels = torch.tensor(sum((x for x in encoded["labels"]), []))
    return {"loss": logged["loss"], "grad_norm": float(logged["grad_norm"]),
            "train_loss": result.metrics["train_loss"], "tokens": int(labels.numel()),
            "layout": [trainer.args.world_size, trainer.args.per_device_train_batch_size,
                       trainer.args.gradient_accumulation_steps]}


def reference_loss(model_dir, corpus) -> float:
    """The token mean over the 8 dialogues, computed directly with the model in one batch."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dropout_rate=0.0).eval()
    rows = [json.loads(line) for line in (Path(corpus) / "train.jsonl").read_text().splitlines()[:8]]
    batch = tokenizer([r["dialogue"] for r in rows], text_target=[r["summary"] for r in rows],
                      padding=True, return_tensors="pt")
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    with torch.no_grad():
        return float(model(**batch).loss)  # T5's mean over non-ignored tokens of one batch


@pytest.fixture(scope="module")
def single(tiny_model, tiny_corpus, tmp_path_factory):
    return one_step(tiny_model, tiny_corpus, 8, 1, tmp_path_factory.mktemp("8x1"))


def test_accumulation_gives_the_loss_and_gradients_of_one_batch(single, tiny_model, tiny_corpus, tmp_path):
    accumulated = one_step(tiny_model, tiny_corpus, 2, 4, tmp_path)
    assert single["layout"] == [1, 8, 1] and accumulated["layout"] == [1, 2, 4]
    print(f"8x1: {single}\n2x4: {accumulated}")
    assert single["loss"] == pytest.approx(reference_loss(tiny_model, tiny_corpus), rel=1e-5)
    for key in ("loss", "grad_norm", "train_loss"):
        assert accumulated[key] == pytest.approx(single[key], rel=1e-5), key


@pytest.mark.slow
def test_two_processes_give_the_loss_and_gradients_of_one_batch(single, tiny_model, tiny_corpus, tmp_path,
                                                                 monkeypatch):
    from test_distributed import _torchrun
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "two.json"
    _torchrun(["--standalone", "--nproc_per_node", "2", __file__, str(tiny_model), str(tiny_corpus),
               str(tmp_path / "scratch"), str(out)], cwd=Path(__file__).resolve().parents[1], timeout=300)
    two = json.loads(out.read_text())
    print(f"8x1: {single}\n2 processes x 4 x 1: {two}")
    assert two["layout"] == [2, 4, 1]
    for key in ("loss", "grad_norm", "train_loss"):
        assert two[key] == pytest.approx(single[key], rel=1e-5), key


if __name__ == "__main__":  # one rank of the torchrun run
    import os
    model_dir, corpus, scratch, out = sys.argv[1:5]
    result = one_step(model_dir, corpus, 8, 1, scratch)  # batch_plan splits 8 x 1 into 4 x 1 per process
    if int(os.environ.get("RANK", "0")) == 0:
        Path(out).write_text(json.dumps(result))
