"""Decoding does not depend on how prompts are batched: fp32 summaries are the same at batch size 1 and 32."""
import dataclasses
import shutil

import pytest
import torch
from transformers import set_seed

from stages.data import dialogsum
from stages.inference import decode
from stages.io import params
from stages.modeling import models
from stages.training import loop


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """The tiny model fine-tuned until it writes summaries (an untrained one writes nothing worth comparing)."""
    root, raw = prepared
    folder = tmp_path_factory.mktemp("decode")
    shutil.copytree(root / "data", folder / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        p = params.parse(raw)
        cfg = dataclasses.replace(p.train_full, max_steps=40, learning_rate=1e-2, batch_size=8, eval_steps=0,
                                  save_steps=0, logging_steps=40, rouge_samples=0, select_metric="last",
                                  warmup_ratio=0.0)
        set_seed(0)
        model = models.load_model(root / "models" / "base")
        tokenizer = models.load_tokenizer(root / "models" / "base")
        train = dialogsum.model_inputs(dialogsum.load_prepared("train"))
        loop.build_trainer(cfg, model, tokenizer, train, None, folder / "scratch", "fp32").train()
        prompts = [list(ids) for split in ("train", "validation", "test")
                   for ids in decode.distinct(dialogsum.load_prepared(split)["input_ids"])]
    return model.eval(), tokenizer, prompts, p.generate


def test_fp32_summaries_do_not_depend_on_the_batch_size(trained):
    model, tokenizer, prompts, decoding = trained
    model = decode.ready(model, "fp32")
    by_size = {size: decode.summarize(model, tokenizer, prompts, dataclasses.replace(decoding, batch_size=size),
                                      progress=False) for size in (1, 32)}
    assert sum(bool(s.strip()) for s in by_size[1]) > len(prompts) / 2  # it writes summaries: the check means something
    assert by_size[1] == by_size[32]


def test_a_decoding_copy_runs_as_the_generate_stages_model_even_under_mixed_precision(tiny_model):
    """Training in bf16, accelerate wraps the model's forward in autocast (some ops then run in fp32). The copy that
    validation decodes must compute what a model the generate stage loads computes: plain bf16, bit for bit."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # as TrainingArguments does before each Trainer
    try:
        training = Accelerator(mixed_precision="bf16", cpu=True).prepare_model(models.load_model(tiny_model))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)  # no mixed precision left behind for other tests
    assert "_original_forward" in training.__dict__  # the wrapping this guards against
    twin = decode.decoding_copy(training, "bf16")
    stage = decode.ready(models.load_model(tiny_model), "bf16")
    batch = models.load_tokenizer(tiny_model)(["#Person1#: Hello. #Person2#: Hi, a table for two."], return_tensors="pt")
    start = torch.zeros((1, 3), dtype=torch.long)
    with torch.inference_mode():
        copied, loaded = (m(**batch, decoder_input_ids=start).logits for m in (twin, stage))
    assert copied.dtype == loaded.dtype == torch.bfloat16 and copied.equal(loaded)  # the wrapper returns fp32
    assert not any("forward" in module.__dict__ for module in twin.modules())
    assert "_original_forward" in training.__dict__  # the model in training is left as it is
