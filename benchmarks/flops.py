"""Model FLOPs utilization: the matmul FLOPs a T5 training step or a greedy generation does (from the config and
the padded batch shapes), and this machine's matmul peak per dtype, measured by a short large-matmul loop.

FLOPs count 2 per multiply-add of the matmuls (linear layers, attention scores and values, the LM head), padding
included: what the hardware was asked to do. Norms, softmax and activations are left out (a few % of T5's).
tests/test_benchmarks.py checks the formulas against torch's FlopCounterMode.
"""
import time

import torch


def _dims(config):
    return config.d_model, config.num_heads * config.d_kv, config.d_ff, config.vocab_size


def _ffn(config) -> int:
    """Weight matrices of d_model x d_ff in one feed-forward block: gated-gelu has two inputs, relu one."""
    return 3 if config.is_gated_act else 2


def encoder_forward(config, batch: int, source: int) -> int:
    d, inner, f, _ = _dims(config)
    per_token = 4 * d * inner + _ffn(config) * d * f  # q, k, v, o and the feed-forward block
    attention = 2 * source * source * inner  # scores and values: each source x source x inner
    return 2 * config.num_layers * batch * (source * per_token + attention)


def decoder_forward(config, batch: int, source: int, target: int) -> int:
    d, inner, f, vocab = _dims(config)
    per_token = 4 * d * inner + 2 * d * inner + _ffn(config) * d * f  # self q,k,v,o; cross q,o; feed-forward
    cross_kv = source * 2 * d * inner  # cross-attention keys and values, from the encoder's output
    attention = 2 * target * target * inner + 2 * target * source * inner
    layers = config.num_decoder_layers * batch * (target * per_token + cross_kv + attention)
    return 2 * (layers + batch * target * d * vocab)


def lora_forward(config, lora, batch: int, source: int, target: int) -> int:
    """The adapters' own matmuls (x A, then B) on every targeted q, k, v, o of every attention block."""
    d, inner, _, _ = _dims(config)
    per_token = 2 * lora.r * (d + inner)
    tokens = {"q": 0, "k": 0, "v": 0, "o": 0}
    for queries, keys, layers in ((source, source, config.num_layers),  # encoder self-attention
                                  (target, target, config.num_decoder_layers),  # decoder self-attention
                                  (target, source, config.num_decoder_layers)):  # cross-attention
        for name, count in (("q", queries), ("o", queries), ("k", keys), ("v", keys)):
            tokens[name] += layers * batch * count
    return per_token * sum(tokens[name] for name in lora.target_modules if name in tokens)


def train_step(config, batch: int, source: int, target: int, lora=None) -> int:
    """Forward and backward. Full fine-tuning: the backward pass computes gradients of inputs and of weights,
    twice the forward's matmuls. LoRA (`lora`: its params): frozen weights get input gradients only, once the
    forward, and the adapters train, three times theirs. (Approximate: the first layers' frozen matmuls need no
    input gradient: within 1% of torch's count on the tiny and flan-t5-small shapes.)"""
    forward = encoder_forward(config, batch, source) + decoder_forward(config, batch, source, target)
    if lora is None:
        return 3 * forward
    return 2 * forward + 3 * lora_forward(config, lora, batch, source, target)


def greedy_generation(config, batch: int, source: int, new_tokens: int) -> int:
    """Encoder once, then one decoder token per step with cached keys and values (self-attention over the
    tokens so far, cross-attention over the source), every sequence running all `new_tokens` steps."""
    d, inner, f, vocab = _dims(config)
    total = encoder_forward(config, batch, source)
    total += 2 * config.num_decoder_layers * batch * source * 2 * d * inner  # cross k, v: computed once
    per_token = 4 * d * inner + 2 * d * inner + _ffn(config) * d * f
    for step in range(1, new_tokens + 1):
        attention = 2 * step * inner + 2 * source * inner
        total += 2 * (config.num_decoder_layers * batch * (per_token + attention) + batch * d * vocab)
    return total


def matmul_peak(dtype: torch.dtype, size: int = 2048, seconds: float = 2.0, repeats: int = 3) -> dict:
    """Achieved FLOP/s of square matmuls of `size` in `dtype` on the CPU (or the GPU, if torch uses one): the
    best of `repeats` loops of `seconds` each (the peak is the best the machine did; the load makes it worse,
    never better), with every loop's figure kept for the spread."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up: the library picks its kernel
    rates = []
    for _ in range(repeats):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ b
            count += 1
        if device == "cuda":
            torch.cuda.synchronize()
        rates.append(2 * size ** 3 * count / (time.perf_counter() - started))
    return {"dtype": str(dtype).replace("torch.", ""), "size": size, "flops_per_s": round(max(rates)),
            "all_flops_per_s": [round(r) for r in rates]}
