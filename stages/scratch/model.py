"""A small T5 built offline: flan-t5's architecture (gated-GELU, layer names q, k, v, o, wi_0, wi_1, wo) at a
size a CPU trains in minutes, with a Unigram tokenizer learned from the corpus's own text.

Random weights know no English: what such a model summarizes after fine-tuning, it learned from the data. The
try-it path (stages/demo.py) and the tests' tiny model are both built here."""
import dataclasses
import json
from pathlib import Path

SPECIALS = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2 as in T5: pad doubles as the decoder start token
# Written beside the weights: what the model is, so that prepare (data/sources.json) and the model card name it
# as built from random weights, with its size, and never as a pretrained model.
RECORD = "scratch.json"


@dataclasses.dataclass(frozen=True)
class Shape:
    vocab: int
    d_model: int
    d_kv: int
    d_ff: int
    layers: int
    heads: int
    embedding: int | None = None  # rows of the embedding; None: the vocabulary rounded up to a multiple of 64
    small_head: bool = False  # embedding drawn at std d_model**-0.5: a first loss near ln(vocab), not ~50


def tokenizer_from(texts, vocab: int, max_length: int = 512):
    """A T5-style Unigram tokenizer (Metaspace, `</s>` appended) trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=vocab, special_tokens=SPECIALS,
                                                           unk_token="<unk>", show_progress=False))
    # The trainer is not deterministic: scores differ between runs in their last digits (float sums in varying
    # order), and the characters it adds last get their (evenly spaced) scores in a varying order. Scores rounded
    # to 0.01 and pieces ordered by score, then text, after the special tokens: the same texts give the same
    # tokenizer every run, so a test's model is the same every run.
    spec = json.loads(tok.to_str())
    pieces = [[piece, round(score, 2)] for piece, score in spec["model"]["vocab"]]
    specials = len(SPECIALS)
    spec["model"]["vocab"] = pieces[:specials] + sorted(pieces[specials:], key=lambda p: (-p[1], p[0]))
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=max_length)


def model_of(shape: Shape, vocab_size: int, seed: int):
    """Randomly initialised T5 (seeded); by default the embedding is the vocabulary rounded up to a multiple of
    64, as flan-t5's 32128 rows hold its 32100 tokens. Its output layer is the input embedding (tied, stored
    once): transformers 5 ties every T5's, and tie_word_embeddings=False only leaves the decoder's outputs
    unscaled, as flan-t5's are."""
    import torch
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=shape.embedding or -(-vocab_size // 64) * 64, d_model=shape.d_model, d_kv=shape.d_kv,
                      d_ff=shape.d_ff, num_layers=shape.layers, num_decoder_layers=shape.layers,
                      num_heads=shape.heads, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    if shape.small_head:
        # The tied output layer is the embedding, which T5's init draws at std 1: logits of std ~sqrt(d_model) on
        # random hidden states. RMSNorm after the embedding makes its scale free elsewhere.
        with torch.no_grad():
            model.lm_head.weight.normal_(0.0, shape.d_model ** -0.5)
    model.generation_config = GenerationConfig(decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return model


def build(folder: Path, texts, shape: Shape, seed: int = 0) -> Path:
    """Tokenizer and model saved in `folder` (config, model.safetensors, tokenizer files)."""
    tokenizer = tokenizer_from(texts, shape.vocab)
    model = model_of(shape, len(tokenizer), seed)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record = {"weights": "random", "parameters": model.num_parameters(), "seed": seed,
              "shape": dataclasses.asdict(shape), "tokenizer_vocabulary": len(tokenizer)}
    (folder / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder
