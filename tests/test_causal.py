"""Decoder-only causal LMs (Llama-style, Qwen2-style) beside flan-t5: the family from the config, the prompt through
the chat template, labels on the summary and its end token only (kept when the shipped pad is EOS), a pad token of
its own, the loss over the effective batch, LoRA's targets, gradient checkpointing, and answer-only decoding."""
import copy
import json
import shutil
from types import SimpleNamespace

import pytest
import torch
import yaml
from transformers import AutoTokenizer, LlamaConfig, Qwen2Config, T5Config, GPT2Config, BertConfig

from project import tiny_params
from stages import prepare, train_full, train_lora
from stages.data import causal_tokens, dialogsum
from stages.inference import decode
from stages.io.errors import ParamsError, UserError
from stages.modeling import causal, family, models
from stages.training import adapters
from stages.training.causal import CausalCollator, token_mean_loss

IGNORE = -100


@pytest.mark.parametrize("config, expected", [
    (T5Config(), family.SEQ2SEQ),
    (LlamaConfig(architectures=["LlamaForCausalLM"]), family.CAUSAL),
    (Qwen2Config(), family.CAUSAL),
    (GPT2Config(), None),  # a causal LM of a family not run here
    (BertConfig(), None),  # an encoder
    (LlamaConfig(architectures=["LlamaForSequenceClassification"]), None),  # a classifier, not a generator
])
def test_the_family_comes_from_the_config(config, expected):
    if expected is None:
        with pytest.raises(UserError, match="model.name"):
            family.of_config(config, "x")
    else:
        assert family.of_config(config, "google/flan-t5-base-named-like-anything") == expected


@pytest.fixture(scope="module")
def causal_prepared(tmp_path_factory, tiny_causal, tiny_corpus):
    """prepare run in-process for each tiny causal LM: {kind: (folder, raw params)}."""
    out = {}
    for kind, model_dir in tiny_causal.items():
        root = tmp_path_factory.mktemp(f"prepared-{kind}")
        raw = tiny_params(model_dir, tiny_corpus)
        raw["train_full"].update(max_steps=4, eval_steps=0, save_steps=0, logging_steps=2, rouge_samples=0,
                                 learning_rate=1e-3)
        raw["train_lora"].update(max_steps=4, eval_steps=0, save_steps=0, logging_steps=2, rouge_samples=0)
        (root / "params.yaml").write_text(yaml.safe_dump(raw))
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(root)
            prepare.main()
        out[kind] = root, raw
    return out


def base_tokenizer(root):
    return AutoTokenizer.from_pretrained(str(root / "models" / "base"))


def test_prompts_go_through_the_template_and_labels_end_with_its_end_of_turn(causal_prepared):
    root, _ = causal_prepared["qwen2"]
    tok = base_tokenizer(root)
    row = dialogsum.load_prepared("train", root / "data" / "prepared")[0]
    prompt = tok.decode(row["input_ids"])
    assert prompt.startswith("<|im_start|>user\nSummarize the following conversation.")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    end = tok.convert_tokens_to_ids("<|im_end|>")
    assert row["labels"][-1] == end and tok.decode(row["labels"][:-1]) == row["summary"]
    assert row["length"] == len(row["input_ids"]) + len(row["labels"])


def test_without_a_template_the_prompt_starts_with_bos_and_the_summary_ends_with_eos(causal_prepared):
    root, _ = causal_prepared["llama"]
    tok = base_tokenizer(root)
    row = dialogsum.load_prepared("train", root / "data" / "prepared")[0]
    assert row["input_ids"][0] == tok.bos_token_id and tok.eos_token_id not in row["input_ids"]
    assert row["labels"][-1] == tok.eos_token_id and tok.decode(row["labels"][:-1]) == row["summary"]


@pytest.mark.parametrize("kind, added, resized", [("qwen2", True, False), ("llama", True, True)])
def test_the_snapshot_gets_a_pad_distinct_from_every_stop_token(causal_prepared, tiny_causal, kind, added, resized):
    root, _ = causal_prepared[kind]
    shipped = AutoTokenizer.from_pretrained(str(tiny_causal[kind]))
    assert shipped.pad_token_id == shipped.eos_token_id  # the trap, as shipped
    tok = base_tokenizer(root)
    config = json.loads((root / "models/base/config.json").read_text())
    generation = json.loads((root / "models/base/generation_config.json").read_text())
    stops = generation["eos_token_id"] if isinstance(generation["eos_token_id"], list) else [generation["eos_token_id"]]
    assert tok.pad_token_id not in stops and tok.eos_token_id in stops
    assert config["pad_token_id"] == generation["pad_token_id"] == tok.pad_token_id
    assert (tok.pad_token_id >= len(shipped)) == added
    assert (config["vocab_size"] > json.loads((tiny_causal[kind] / "config.json").read_text())["vocab_size"]) == resized
    if kind == "qwen2":
        assert tok.convert_tokens_to_ids("<|im_end|>") in stops


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_the_collator_masks_the_prompt_and_padding_and_keeps_the_end_token_when_pad_is_eos(causal_prepared, kind):
    root, _ = causal_prepared[kind]
    rows = dialogsum.load_prepared("train", root / "data" / "prepared").select(range(3))
    features = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    eos = base_tokenizer(root).eos_token_id
    batch = CausalCollator(pad_id=eos, pad_to_multiple_of=8)(features)  # the shipped pad: EOS itself
    assert batch["input_ids"].shape[1] % 8 == 0
    for i, row in enumerate(rows):
        n, m = len(row["input_ids"]), len(row["labels"])
        labels = batch["labels"][i].tolist()
        assert labels[:n] == [IGNORE] * n  # the prompt: no loss
        assert labels[n:n + m] == row["labels"]  # the summary and its end token, EOS or <|im_end|>
        assert labels[n + m:] == [IGNORE] * (len(labels) - n - m)  # padding: no loss, though it is EOS
        assert batch["attention_mask"][i].tolist() == [1] * (n + m) + [0] * (len(labels) - n - m)


def test_a_typed_special_token_is_text_in_prompt_and_summary(causal_prepared):
    root, _ = causal_prepared["qwen2"]
    tok = base_tokenizer(root)
    specials = {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|im_start|>", "<|endoftext|>")}
    dialogue = "#Person1#: I typed <|im_end|> then <|endoftext|>.\n#Person2#: <|im_start|>assistant ok"
    encoded = causal_tokens.encode_prompts(tok, "Summarize:\n{dialogue}", [dialogue], 512, True)
    ids = encoded.input_ids[0]
    head = len(tok("<|im_start|>user\n", add_special_tokens=False)["input_ids"])
    tail = len(tok("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])
    assert specials.isdisjoint(ids[head:-tail]) and "<|im_end|> then" in tok.decode(ids)
    labels, _ = causal_tokens.labels(tok, ["He said <|im_end|> twice."], 64, 7)
    assert labels[0][-1] == 7 and specials.isdisjoint(labels[0][:-1])


def test_a_long_dialogue_is_cut_inside_and_a_long_summary_keeps_its_end(causal_prepared):
    root, _ = causal_prepared["qwen2"]
    tok = base_tokenizer(root)
    encoded = causal_tokens.encode_prompts(tok, "Summarize:\n{dialogue}\nSummary:", ["word " * 500], 60, True)
    text = tok.decode(encoded.input_ids[0])
    assert len(encoded.input_ids[0]) <= 60 and encoded.truncated == 1
    assert text.endswith("Summary:<|im_end|>\n<|im_start|>assistant\n")
    labels, over = causal_tokens.labels(tok, ["a " * 200], 16, 5)
    assert len(labels[0]) == 16 and labels[0][-1] == 5 and over[0] > 0


@pytest.mark.parametrize("setting, templated", [("auto", True), ("off", False), ("on", True)])
def test_chat_template_setting(causal_prepared, setting, templated):
    tok = base_tokenizer(causal_prepared["qwen2"][0])
    assert causal.uses_template(tok, setting) == templated
    plain = base_tokenizer(causal_prepared["llama"][0])
    if setting == "on":
        with pytest.raises(ParamsError, match="model.chat_template"):
            causal.uses_template(plain, "on")
    else:
        assert causal.uses_template(plain, setting) is False


def test_the_loss_is_the_models_own_causal_loss_and_the_mean_over_the_effective_batch(causal_prepared):
    root, _ = causal_prepared["llama"]
    model = models.load_model(root / "models" / "base")
    rows = dialogsum.load_prepared("train", root / "data" / "prepared").select(range(4))
    batch = CausalCollator(0)([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    with torch.no_grad():
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        ours = token_mean_loss(outputs, batch["labels"])
        theirs = model(**batch).loss  # transformers' ForCausalLMLoss: shifted, mean over target tokens
        assert ours == pytest.approx(theirs.item(), rel=1e-5)
        # two micro-batches, each divided by the target tokens of both (num_items_in_batch): their sum is the mean
        total = batch["labels"][:, 1:].ne(IGNORE).sum()
        halves = [token_mean_loss(model(input_ids=batch["input_ids"][s], attention_mask=batch["attention_mask"][s]),
                                  batch["labels"][s], total) for s in (slice(0, 1), slice(1, 4))]
        assert sum(halves).item() == pytest.approx(ours.item(), rel=1e-5)


def train(causal_prepared, tmp_path_factory, kind, stage, **changes):
    """A copy of the prepared folder, `stage` run in-process with train_* changes; its metrics."""
    root, raw = causal_prepared[kind]
    folder = tmp_path_factory.mktemp(f"{kind}-{stage}")
    for part in ("data", "models"):
        shutil.copytree(root / part, folder / part)
    p = copy.deepcopy(raw)
    p[stage].update(changes)
    (folder / "params.yaml").write_text(yaml.safe_dump(p))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        (train_full if stage == "train_full" else train_lora).main()
    return folder, json.loads((folder / "metrics" / f"{stage}.json").read_text())


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_full_training_with_and_without_checkpointing_and_split_batches_agree(causal_prepared, tmp_path_factory,
                                                                              kind):
    _, plain = train(causal_prepared, tmp_path_factory, kind, "train_full")
    _, checkpointed = train(causal_prepared, tmp_path_factory, kind, "train_full", gradient_checkpointing=True)
    _, split = train(causal_prepared, tmp_path_factory, kind, "train_full", batch_size=2,
                     gradient_accumulation_steps=2)
    assert plain["train_loss_final"] == pytest.approx(checkpointed["train_loss_final"], rel=1e-5)
    assert plain["train_loss_final"] == pytest.approx(split["train_loss_final"], rel=1e-4)


def test_lora_on_a_causal_lm_targets_its_projections_by_default(causal_prepared, tmp_path_factory):
    folder, metrics = train(causal_prepared, tmp_path_factory, "qwen2", "train_lora", gradient_checkpointing=True)
    config = json.loads((folder / "models" / "lora" / "adapter_config.json").read_text())
    assert config["task_type"] == "CAUSAL_LM"
    assert sorted(config["target_modules"]) == sorted(adapters.CAUSAL_DEFAULT)
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    model = models.load_model(folder / "models" / "base")
    wrong = SimpleNamespace(r=4, alpha=4, dropout=0.0, target_modules=["q", "wo"])
    with pytest.raises(ParamsError, match="q_proj"):  # not the default: named as missing, the real names listed
        adapters.config(model, wrong)


def test_decoding_returns_the_answer_only_and_batching_changes_nothing(causal_prepared):
    root, raw = causal_prepared["qwen2"]
    tok = base_tokenizer(root)
    model = decode.ready(models.load_model(root / "models" / "base"), "fp32")
    prompts = [list(r) for r in dialogsum.load_prepared("test", root / "data" / "prepared")["input_ids"][:6:3]]
    prompts.append(prompts[0][:40] + prompts[0][-5:])  # a shorter prompt: left padding in a batch
    cfg = SimpleNamespace(**{**raw["generate"], "batch_size": 3, "max_new_tokens": 6})
    batched = decode.summarize(model, tok, prompts, cfg, progress=False)
    alone = [decode.summarize(model, tok, [p], SimpleNamespace(**{**vars(cfg), "batch_size": 1}), progress=False)[0]
             for p in prompts]
    assert batched == alone and all("Summarize" not in s and "assistant" not in s for s in batched)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():  # the end-of-turn token made the likeliest: every answer ends at once, empty
        model.lm_head.weight[end] = model.lm_head.weight.abs().max() * 50
        model.model.norm.weight.fill_(1.0)
    out = decode._generate(model, tok, prompts[:1], cfg)
    assert out.shape[1] <= 1 and decode.summarize(model, tok, prompts[:1], cfg, progress=False) == [""]


def test_full_fine_tuning_states_its_memory_and_refuses_a_causal_lm_that_cannot_fit(causal_prepared, monkeypatch):
    from stages.training import memory

    root, raw = causal_prepared["qwen2"]
    model = models.load_model(root / "models" / "base")
    cfg = SimpleNamespace(gradient_checkpointing=False)
    trainable, total = models.count_parameters(model)
    parts = memory.estimate(model.config, trainable, total, 4, 100, "fp32", False)
    assert (parts["weights"], parts["gradients"], parts["adamw"]) == (4 * total, 4 * trainable, 8 * trainable)
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    lighter = memory.estimate(model.config, trainable, total, 4, 100, "fp32", True)
    assert lighter["activations"] < parts["activations"] / 5
    monkeypatch.setattr(memory, "available", lambda kind: (10 ** 9, "RAM available"))
    said = memory.check("train_full", cfg, model, 4, 100, "fp32", "cpu", True)
    assert said.startswith("full fine-tuning needs about") and "GB RAM available" in said
    monkeypatch.setattr(memory, "available", lambda kind: (1000, "RAM available"))
    with pytest.raises(UserError, match="cannot fit.*train_full.batch_size.*gradient_checkpointing"):
        memory.check("train_full", cfg, model, 4, 100, "fp32", "cpu", True)
    assert "cannot fit" not in memory.check("train_full", cfg, model, 4, 100, "fp32", "cpu", False)  # flan-t5: stated
    # Qwen2.5-0.5B's shape (494M parameters): weights, gradients and AdamW alone are 7.4 GiB
    qwen = Qwen2Config(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                       vocab_size=151936)
    big = memory.estimate(qwen, 494_032_768, 494_032_768, 16, 640, "bf16", False)
    assert 7.3 < (big["weights"] + big["gradients"] + big["adamw"]) / memory.GB < 7.5 and big["total"] > 20 * memory.GB


def test_quantized_lora_is_refused_without_cuda_or_bitsandbytes(monkeypatch):
    from stages.training import quantize

    assert quantize.loading_kwargs(None) == {}
    with pytest.raises(ParamsError, match="lora.quantize"):
        quantize.loading_kwargs("2bit")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        quantize.loading_kwargs("4bit")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(__import__("sys").modules, "bitsandbytes", None)  # absent, whatever is installed
    with pytest.raises(UserError, match="bitsandbytes package"):
        quantize.loading_kwargs("8bit")


@pytest.fixture(scope="module")
def livened(causal_prepared, tmp_path_factory):
    """The prepared Qwen2-style project with decisive random weights in models/base."""
    import tiny_causal

    root = tmp_path_factory.mktemp("causal-engines")
    shutil.copytree(causal_prepared["qwen2"][0], root, dirs_exist_ok=True)
    tiny_causal.liven(root / "models" / "base")
    return root


def test_fp32_ctranslate2_writes_the_answers_torch_writes_for_a_causal_lm(livened, monkeypatch):
    from stages.inference import engines
    from stages.io import params

    monkeypatch.chdir(livened)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        raw = yaml.safe_load((livened / "params.yaml").read_text())
        raw["generate"].update(max_new_tokens=16, batch_size=4)
        inputs = [list(ids) for split in ("test", "validation")
                  for ids in decode.distinct(dialogsum.load_prepared(split)["input_ids"])]
        torch_engine = engines.load_engine("base", params.parse(raw))
        expected = torch_engine.summarize(inputs)
        raw["generate"].update(engine="ctranslate2", compute_type="float32")
        engine = engines.load_engine("base", params.parse(raw))
        assert engine.describe()["engine"] == "ctranslate2" and engine.summarize(inputs) == expected
        assert len(set(expected)) > len(expected) // 2  # varied answers
        tok = torch_engine.tokenizer
        lengths = {len(tok(text, add_special_tokens=False)["input_ids"]) for text in expected}
        assert min(lengths) < 12 and max(lengths) >= 14  # some end at <|im_end|>, others run to max_new_tokens
        raw["generate"].update(num_beams=2, early_stopping=True)
        with pytest.raises(ParamsError, match="generate.num_beams"):
            engines.load_engine("base", params.parse(raw))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("change, chosen, new", [
    ({}, "<|pad|>", True),  # pad = EOS as shipped, nothing pad-like: a new token
    ({"additional_special_tokens": ["<|finetune_right_pad_id|>"]}, "<|finetune_right_pad_id|>", False),  # Llama 3
    ({"eos_token": "<|im_end|>"}, "<|endoftext|>", False),  # Qwen2.5-Instruct: the shipped pad is no end token
])
def test_the_pad_token_chosen(tiny_causal, change, chosen, new):
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["qwen2"]))
    if change:
        tok.add_special_tokens(change, replace_extra_special_tokens=False)
    stops = set(causal.stop_ids(tok, True))
    assert causal.choose_pad(tok, stops) == (chosen, new)


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_summarize_and_serve_encode_a_new_dialogue_as_prepare_did(causal_prepared, kind):
    from stages import summarize
    from stages.inference import specs
    from stages.io import params
    from stages.serving.prompting import Prompter

    root, raw = causal_prepared[kind]
    rows = dialogsum.load_prepared("validation", root / "data" / "prepared").select(range(2))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        tokenizer = specs.tokenizer("full" if (root / "models/full").is_dir() else "base")
        p = params.parse(raw)
        cli = summarize.prompt_ids(tokenizer, {"a": rows[0]["dialogue"], "b": rows[1]["dialogue"]}, p.data,
                                   causal.chat_setting(p)).input_ids
        served, _ = Prompter(p.data, tokenizer, causal.chat_setting(p)).encode(list(rows["dialogue"]))
    assert cli == served == [list(ids) for ids in rows["input_ids"]]


def test_a_config_listing_several_eos_ids_accepts_a_tokenizer_whose_eos_is_one_of_them(tiny_causal):
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["llama"]))
    listing = SimpleNamespace(config=SimpleNamespace(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                                     eos_token_id=[5, tok.eos_token_id]))
    models.check_tokenizer("x", tok, listing)  # as Llama 3.2 Instruct's config.json lists three
    listing.config.eos_token_id = [5, 6]
    with pytest.raises(UserError, match="eos token id"):
        models.check_tokenizer("x", tok, listing)


def test_a_template_that_writes_todays_date_gives_the_same_prompt_every_day(tiny_causal):
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["qwen2"]))
    tok.chat_template = ("{% if date_string is not defined %}{% set date_string = strftime_now('%d %b %Y %H:%M:%S.%f') "
                         "%}{% endif %}<|im_start|>system\nToday: {{ date_string }}<|im_end|>\n" + tok.chat_template)
    first, second = causal.template_parts(tok), causal.template_parts(tok)
    assert first == second and "26 Jul 2024" in first[0]


TRIMMING = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] | trim }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.mark.parametrize("template", [None, TRIMMING], ids=["chatml", "trims"])
def test_an_ordinary_prompt_is_the_ids_apply_chat_template_gives(tiny_causal, tiny_corpus, template):
    """What people run (apply_chat_template on the prompt text) is what training and the base run saw."""
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["qwen2"]))
    if template:
        tok.chat_template = template  # Llama 3's trims the message: "Summary: " loses its last space
    row = json.loads((tiny_corpus / "test.jsonl").read_text().splitlines()[0])
    prompt = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
    ours = causal_tokens.encode_prompts(tok, prompt, [row["dialogue"]], 512, True).input_ids[0]
    theirs = tok.apply_chat_template([{"role": "user", "content": prompt.format(dialogue=row["dialogue"])}],
                                     add_generation_prompt=True, tokenize=True, return_dict=False)
    assert ours == list(theirs)


def test_a_template_that_repeats_the_message_is_refused(tiny_causal):
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["qwen2"]))
    tok.chat_template = "{% for m in messages %}{{ m['content'] }} again: {{ m['content'] }}{% endfor %}"
    with pytest.raises(ParamsError, match="repeats the user's message.*chat_template to off"):
        causal.template_parts(tok)


@pytest.mark.parametrize("template", ["{% for %}", "{{ raise_exception('system messages only') }}",
                                      "{{ messages[5]['content'] }}"], ids=["syntax", "raises", "undefined"])
def test_a_broken_chat_template_is_one_message(tiny_causal, template):
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["qwen2"]))
    tok.chat_template = template
    with pytest.raises(ParamsError, match="model.chat_template.*cannot render"):
        causal_tokens.renderer(tok, True)


def test_a_target_length_that_holds_only_the_end_token_is_refused(tiny_causal):
    tok = AutoTokenizer.from_pretrained(str(tiny_causal["qwen2"]))
    p = SimpleNamespace(data=SimpleNamespace(max_source_length=64, max_target_length=1))
    with pytest.raises(ParamsError, match="data.max_target_length"):
        prepare.check_lengths(p, tok, causal_lm=True)
    p.data.max_target_length = 2
    prepare.check_lengths(p, tok, causal_lm=True)


def test_a_llama_without_template_decodes_answers_only_batched_as_alone(causal_prepared):
    root, raw = causal_prepared["llama"]
    tok = base_tokenizer(root)
    model = decode.ready(models.load_model(root / "models" / "base"), "fp32")
    prompts = [list(r) for r in dialogsum.load_prepared("test", root / "data" / "prepared")["input_ids"][:6:3]]
    prompts.append(prompts[0][:30])
    cfg = SimpleNamespace(**{**raw["generate"], "batch_size": 3, "max_new_tokens": 5})
    batched = decode.summarize(model, tok, prompts, cfg, progress=False)
    alone = [decode.summarize(model, tok, [p], SimpleNamespace(**{**vars(cfg), "batch_size": 1}), progress=False)[0]
             for p in prompts]
    out = decode._generate(model, tok, prompts, cfg)
    assert batched == alone and out.shape[1] <= 5  # five new tokens at most: never the prompt


@pytest.mark.parametrize("kind", ["full", "merged"])
def test_the_cards_snippet_for_a_causal_lm_writes_the_summary_the_pipeline_writes(livened, kind, monkeypatch):
    from stages import summarize
    from stages.io import params
    from stages.shipping import card, subjects, usage

    monkeypatch.chdir(livened)
    raw = yaml.safe_load((livened / "params.yaml").read_text())
    raw["generate"].update(max_new_tokens=12)
    p = params.parse(raw)
    found = subjects.model_of_run("auto", livened / "models" / "base")
    assert found == {"model_type": "qwen2", "chat": "template"}
    ref = subjects.HubRef("someone/tiny-qwen", "main", declared=True)
    subject = subjects.Subject(kind, "me/tiny-qwen-dialogsum", ref, ref, **found)
    gen = {"engine": "torch", "precision": "fp32", "dialogues": 6}
    record = SimpleNamespace(params=p, generate={"full": gen, "lora": gen})
    lines = usage.section(record, subject)
    code = "\n".join(lines[lines.index("```python") + 1:-1])
    code = code.replace(repr(subject.repo_id), repr(str(livened / "models/base")))  # the local model, not the Hub
    assert "AutoModelForCausalLM" in code and "apply_chat_template" in code
    printed = []
    monkeypatch.setattr("builtins.print", printed.append)
    exec(compile(code, "card", "exec"), {})  # noqa: S102 - the card's own snippet, on the local model
    tok = models.load_tokenizer(livened / "models" / "base")
    ids = summarize.prompt_ids(tok, {"x": usage.EXAMPLE}, p.data, "auto").input_ids
    model = decode.ready(models.load_model(livened / "models" / "base"), "fp32")
    assert printed == decode.summarize(model, tok, ids, p.generate, progress=False) and printed[0]
    data = card.metadata(SimpleNamespace(**vars(record), rouge={m: dict.fromkeys(("rouge1", "rouge2", "rougeL",
                                                                                    "rougeLsum"), 0.1)
                                                                for m in ("full", "lora")},
                                         sources={}), subject)
    assert data.pipeline_tag == "text-generation" and "qwen2" in data.tags and data.base_model == ref.id


def test_under_fsdp_the_memory_is_stated_not_refused(causal_prepared, monkeypatch):
    from stages.training import memory

    model = models.load_model(causal_prepared["qwen2"][0] / "models" / "base")
    monkeypatch.setattr(memory, "available", lambda kind: (1000, "RAM available"))
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    said = memory.check("train_full", SimpleNamespace(gradient_checkpointing=False), model, 4, 100, "fp32", "cpu", True)
    assert "FSDP shards" in said


def test_compare_says_each_runs_mean_summary_length():
    from stages.experiments import verdict

    counts = {"dialogues": 6, "distinct_summaries": 6, "most_common_share": 0.17, "empty_share": 0.0}
    result = {"a": "t5", "b": "qwen", "outputs": {"lora": {"a": {**counts, "mean_words": 9.5},
                                                           "b": {**counts, "mean_words": 31.25}}}}
    assert "mean summary words (A / B): lora 9.5 / 31.2" in verdict.output_lines(result, "mean_ref")
    result["outputs"]["lora"]["a"].pop("mean_words")  # a run compared from before the figure existed
    assert not any("mean summary words" in line for line in verdict.output_lines(result, "mean_ref"))
