"""Tiny random decoder-only causal LMs of the two families supported (Llama-style, Qwen2-style), with byte-level
BPE tokenizers learned offline from the tiny corpus: the Qwen2-style one has a ChatML chat template, EOS
<|endoftext|> and pad = EOS as Qwen2.5 base ships it (its end of turn, <|im_end|>, is another token); the
Llama-style one has no template, a <s> start token and pad = EOS, and an embedding without a spare row."""
import json
from pathlib import Path

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def texts_of(corpus: Path) -> list[str]:
    texts = []
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row["dialogue"], row["summary"], "Summarize the following conversation.\n\nSummary: "]
    return texts


def tokenizer(texts, kind: str, vocab: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] if kind == "qwen2" else ["<s>", "</s>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if kind == "qwen2":
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                       additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHATML, model_max_length=1024)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="</s>",
                                   model_max_length=1024)


def model(kind: str, tok, rows: int, seed: int = 0):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(vocab_size=rows, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=1024, eos_token_id=tok.eos_token_id,
                 pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    if kind == "qwen2":  # tied embedding, as Qwen2.5-0.5B
        built = Qwen2ForCausalLM(Qwen2Config(**shape, tie_word_embeddings=True, bos_token_id=None))
    else:
        built = LlamaForCausalLM(LlamaConfig(**shape, tie_word_embeddings=False, bos_token_id=tok.bos_token_id))
    built.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               bos_token_id=tok.bos_token_id)
    return built


def write_model(folder: Path, corpus: Path, kind: str = "qwen2", seed: int = 0) -> Path:
    """Tokenizer and model saved in `folder`: Qwen2-style with 64 spare embedding rows, Llama-style with none."""
    tok = tokenizer(texts_of(corpus), kind)
    rows = len(tok) + 64 if kind == "qwen2" else len(tok)
    folder.mkdir(parents=True, exist_ok=True)
    model(kind, tok, rows, seed).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def liven(folder: Path, seed: int = 2) -> Path:
    """Rewrite the causal LM in `folder` with random weights (std 0.3) whose greedy answers vary, and the end of
    turn's output row 1.1x the row of the token written most, so that some answers end early and others run to
    max_new_tokens (tests/tiny.py liven does the same for the T5)."""
    import collections

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    built = AutoModelForCausalLM.from_pretrained(str(folder))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, weight in built.named_parameters():
            if weight.dim() == 2:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.3)
        prompts = [tok(f"<|im_start|>user\nSummary of {name}<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
                   for name in ("Anna", "Ben", "Chloe", "David", "Emma", "Frank")]
        out = built.eval().generate(**tok.pad({"input_ids": prompts}, return_tensors="pt", padding_side="left"),
                                    max_new_tokens=12, do_sample=False)
        counts = collections.Counter(t for row in out[:, -12:].tolist() for t in row)
        head = built.get_output_embeddings().weight
        end = tok.convert_tokens_to_ids("<|im_end|>")
        head[end] = head[counts.most_common(1)[0][0]] * 1.1
    built.save_pretrained(str(folder))
    return folder
