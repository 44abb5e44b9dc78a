"""A tiny T5 (same architecture family as flan-t5), its tokenizer, and a made-up DialogSum-like corpus."""
import json
import random
from pathlib import Path

from stages.scratch.model import Shape

# a vocabulary of 400 (512 embedding rows), d_model 64, 2+2 layers: ~300k parameters, training steps in milliseconds
TINY = Shape(vocab=400, d_model=64, d_kv=16, d_ff=128, layers=2, heads=4, embedding=512)
NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Frank", "Grace", "Henry"]
PLACES = ["the bank", "the station", "a restaurant", "the library", "the office", "a hotel"]
WANTS = ["open an account", "buy a ticket", "book a table", "borrow a book", "meet the manager", "get a room"]


def dialogue(rng: random.Random) -> tuple[str, str, str]:
    name, place, want = rng.choice(NAMES), rng.choice(PLACES), rng.choice(WANTS)
    text = "\n".join([
        f"#Person1#: Good morning, welcome to {place}. How can I help you?",
        f"#Person2#: Hello, my name is {name}. I would like to {want}.",
        "#Person1#: Of course. Could you wait a moment, please?",
        "#Person2#: Sure, thank you very much.",
    ])
    summary = f"{name} goes to {place} to {want}."
    return text, summary, place


def write_corpus(folder: Path, sizes=(24, 8, 6), seed: int = 0) -> Path:
    """train/validation/test JSONL in the Hub layout; test repeats each dialogue for three references."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seen = set()
    for split, count in zip(("train", "validation", "test"), sizes):
        rows = []
        for i in range(count):
            text, summary, topic = dialogue(rng)
            while text in seen:  # distinct dialogues, as in DialogSum
                text, summary, topic = dialogue(rng)
            seen.add(text)
            if split == "test":
                variants = [summary, summary.replace("goes to", "visits"), f"At {topic}, {summary}"]
                rows += [{"id": f"test_{i}_{k + 1}", "dialogue": text, "summary": s, "topic": topic}
                         for k, s in enumerate(variants)]
            else:
                rows.append({"id": f"{split}_{i}", "dialogue": text, "summary": summary, "topic": topic})
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def write_model(folder: Path, corpus: Path) -> Path:
    """A ~300k-parameter T5 with flan-t5's layer names (q, k, v, o, wi_0, wi_1, wo) and a Unigram tokenizer."""
    from stages.scratch import model

    texts = []
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row["dialogue"], row["summary"], "Summarize the following conversation. Summary:"]
    return model.build(folder, texts, TINY)


def liven(folder: Path, seed: int = 0) -> Path:
    """Rewrite the tiny model in `folder` with random weights that decode varied summaries of varied lengths.

    The untrained tiny model writes only padding, so it cannot show that two decoders agree. Here: every weight
    matrix random (std 0.3), the output layer 3x larger so the best next token leads the second by a clear margin
    (more than float rounding moves it), and the end token's row 1.1x the row of the token the model writes most,
    so some summaries end early and others run to max_new_tokens."""
    import collections

    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.dim() == 2 and "relative_attention_bias" not in name:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.3)
        model.lm_head.weight[len(tokenizer):] = 0  # rows past the tokenizer's vocabulary: never the best token
        model.lm_head.weight.mul_(3)
        prompts = [tokenizer(f"Summary of {name} at {place}")["input_ids"] for name in NAMES for place in PLACES]
        out = model.eval().generate(**tokenizer.pad({"input_ids": prompts}, return_tensors="pt"), max_new_tokens=12,
                                    do_sample=False)
        counts = collections.Counter(t for row in out.tolist() for t in row[1:] if t > 2)  # past pad, eos, unk
        model.lm_head.weight[tokenizer.eos_token_id] = model.lm_head.weight[counts.most_common(1)[0][0]] * 1.1
    model.save_pretrained(str(folder))
    return folder
