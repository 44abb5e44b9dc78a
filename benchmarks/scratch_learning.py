"""Does a T5 built from random weights learn to read its dialogue, and how fast? A short training loop on DialogSum
that mirrors the pipeline's (AdamW, linear warmup and decay, clipping at 1.0, token-mean loss, the prompt cut
inside the dialogue), and every --every steps writes greedy summaries for validation dialogues and prints:
how many are distinct, their ROUGE-1 (rouge_score, stemmed, as the evaluate stage scores), and the ROUGE-1 of a
constant summary and of lead3 on the same dialogues. A model that writes one string for all dialogues, or
scores below the constant, has not learnt to read its input, whatever its loss.

    python benchmarks/scratch_learning.py --vocab 2000 --d-model 96 --steps 300 --every 100

It is the search docs/try-it.md reports for a try-it setting that learns (stages/scratch/experiment.py); it has the
figures. Prints figures; it is not a test. Needs the real corpus (--data, default ../shared/data/dialogsum).
"""
import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from stages.data import prompts  # noqa: E402
from stages.scoring import baselines, rouge  # noqa: E402
from stages.scratch import model as scratch  # noqa: E402

PROMPT = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "  # params.yaml's data.prompt
CONSTANT = "#Person1# and #Person2# talk about it."
DATA = next((p / "shared/data/dialogsum" for p in ROOT.parents if (p / "shared/data/dialogsum").is_dir()), None)
CACHE = ROOT / "benchmarks" / ".cache"


def read(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def tokenizer(train: list[dict], vocab: int):
    from transformers import AutoTokenizer

    folder = CACHE / f"scratch_tokenizer_{vocab}"
    if not (folder / "tokenizer.json").is_file():
        texts = [t for row in train for t in (row["dialogue"], row["summary"])] + [PROMPT]
        scratch.tokenizer_from(texts, vocab).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(str(folder))


def encode(tok, rows, source_len, target_len):
    sources = prompts.encode(tok, PROMPT, [r["dialogue"] for r in rows], source_len).input_ids
    targets = [tok(r["summary"], truncation=True, max_length=target_len)["input_ids"] for r in rows]
    return list(zip(sources, targets))


def pad(seqs, value):
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (width - len(s)) for s in seqs])


def summaries(model, tok, pairs, new_tokens, bf16) -> list[str]:
    model.eval()
    out = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(pairs), 50):
            ids = pad([s for s, _ in pairs[start:start + 50]], 0)
            made = model.generate(input_ids=ids, attention_mask=ids.ne(0).long(), max_new_tokens=new_tokens,
                                  num_beams=1, do_sample=False)
            out += tok.batch_decode(made, skip_special_tokens=True)
    model.train()
    return [text.strip() for text in out]


def rouge1(predictions, references) -> float:
    return sum(rouge.score(p, r)["rouge1"] for p, r in zip(predictions, references)) / len(references)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--vocab", type=int, default=2000)
    p.add_argument("--d-model", type=int, default=96)
    p.add_argument("--d-ff", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--t5-scaling", action="store_true", help="the original T5's output layer: the embedding (which "
                   "transformers 5 shares with the output layer anyway) drawn at std 1 and the decoder output scaled "
                   "by d_model**-0.5, instead of the try-it's embedding at std d_model**-0.5, unscaled")
    p.add_argument("--dropout", type=float, default=0.1, help="T5's dropout_rate (0.1 as flan-t5)")
    p.add_argument("--source-len", type=int, default=192)
    p.add_argument("--target-len", type=int, default=48)
    p.add_argument("--train", type=int, default=800, help="training dialogues (a seeded sample)")
    p.add_argument("--val", type=int, default=100, help="validation dialogues summarized at each check")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=float, default=0.05, help="ratio of the steps")
    p.add_argument("--smoothing", type=float, default=0.0, help="label smoothing")
    p.add_argument("--every", type=int, default=100, help="steps between checks")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (as precision: auto on a CPU that has it)")
    p.add_argument("--lora", type=int, default=0, help="train a LoRA adapter of this rank on every linear layer "
                   "(alpha = rank, dropout 0.05, as the try-it) instead of every weight")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)

    train_rows, val_rows = read(a.data, "train"), read(a.data, "validation")
    tok = tokenizer(train_rows, a.vocab)
    random.Random(a.seed).shuffle(train_rows)
    train = encode(tok, train_rows[:a.train], a.source_len, a.target_len)
    val_rows = random.Random(0).sample(val_rows, a.val)
    val = encode(tok, val_rows, a.source_len, a.target_len)
    refs = [r["summary"] for r in val_rows]
    shape = scratch.Shape(vocab=a.vocab, d_model=a.d_model, d_kv=a.d_model // a.heads, d_ff=a.d_ff, layers=a.layers,
                          heads=a.heads, small_head=not a.t5_scaling)
    model = scratch.model_of(shape, len(tok), a.seed) if not a.t5_scaling else t5_scaling(shape, len(tok), a.seed)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = a.dropout
    if a.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=a.lora, lora_alpha=a.lora, lora_dropout=0.05,
                                                 target_modules="all-linear", task_type="SEQ_2_SEQ_LM"))
    params = sum(q.numel() for q in model.parameters() if q.requires_grad)
    print(f"# {vars(a)} trainable={params:,} load={os.getloadavg()[0]:.1f} "
          f"source tokens mean={sum(len(s) for s, _ in train) / len(train):.0f} "
          f"constant R1={rouge1([CONSTANT] * len(refs), refs):.3f} "
          f"lead3 R1={rouge1([baselines.lead3(r['dialogue']) for r in val_rows], refs):.3f}", flush=True)

    torch.manual_seed(a.seed)
    trained = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
    decay = [q for n, q in trained if q.ndim > 1 and "layer_norm" not in n]
    rest = [q for n, q in trained if not (q.ndim > 1 and "layer_norm" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=a.lr)
    warm = math.ceil(a.warmup * a.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (a.steps - s) / max(1, a.steps - warm)))
    order, cursor, started, losses = [], 0, time.perf_counter(), []
    cpu0 = time.process_time()
    model.train()
    for step in range(1, a.steps + 1):
        if cursor + a.batch > len(order):
            order, cursor = random.sample(range(len(train)), len(train)), 0
        batch = [train[i] for i in order[cursor:cursor + a.batch]]
        cursor += a.batch
        ids, labels = pad([s for s, _ in batch], 0), pad([t for _, t in batch], -100)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(input_ids=ids, attention_mask=ids.ne(0).long(), labels=labels).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100,
                               label_smoothing=a.smoothing)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % a.every == 0 or step == a.steps:
            trained = time.perf_counter() - started
            made = summaries(model, tok, val, a.target_len, a.bf16)
            started += time.perf_counter() - started - trained  # checks are not training time
            print(f"step {step:5d}  train {trained:7.1f} s  cpu {time.process_time() - cpu0:7.1f} s  loss {sum(losses[-a.every:]) / len(losses[-a.every:]):.3f}"
                  f"  distinct {len(set(made)):3d}/{len(made)}  R1 {rouge1(made, refs):.3f}  load "
                  f"{os.getloadavg()[0]:.1f}  e.g. {made[0][:70]!r} | {made[1][:70]!r}", flush=True)


def t5_scaling(shape, vocab_size: int, seed: int):
    from transformers import T5ForConditionalGeneration

    config = scratch.model_of(shape, vocab_size, seed).config
    config.tie_word_embeddings = config.scale_decoder_outputs = True
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config)


if __name__ == "__main__":
    main()
