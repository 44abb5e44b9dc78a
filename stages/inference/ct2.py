"""CTranslate2 generation: the compute type, the decoding options that make it decode as transformers'
generate() does, the conversion of a model, and the engine itself.

Same settings, same search: greedy or beam search over the same start token (the generation config's
decoder_start_token_id), stopping at the same end tokens, at most max_new_tokens new tokens (CTranslate2's
max_decoding_length counts the same tokens; its default min_decoding_length of 1 would forbid an empty summary,
so it is set from the generation config, 0 by default), the same length penalty (both divide a hypothesis'
log-probability by its length counting the end token), no input truncation. Beam search stops once num_beams
hypotheses have ended (patience 1), which is generate()'s early_stopping=True and nothing else.

What CTranslate2 does differently is refused (decoding_options), never decoded differently: early_stopping
other than true with beams; a minimum length with beams (CTranslate2 bans the end token before the log-softmax,
generate() after it, so the beams' scores differ); no_repeat_ngram_size (with beams the same reason; greedy,
generate() also counts the decoder start token in n-grams); and the settings in NEUTRAL.
"""
import importlib
import math
from pathlib import Path

from tqdm.auto import tqdm

from ..io.errors import ParamsError, UserError
from .decode import longest_first

# What transformers 5 does when a generation config leaves a setting unset (GenerationConfig defaults).
NEUTRAL = {"repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "encoder_no_repeat_ngram_size": 0,
           "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None,
           "forced_bos_token_id": None, "forced_eos_token_id": None, "sequence_bias": None,
           "exponential_decay_length_penalty": None, "renormalize_logits": False, "diversity_penalty": 0.0}


def module():
    """The ctranslate2 package, or a UserError saying how to get it."""
    try:
        return importlib.import_module("ctranslate2")
    except ImportError:
        raise UserError("params.yaml: generate.engine: ctranslate2 needs the ctranslate2 package (pip install "
                        "ctranslate2==4.8.5, as requirements.txt pins it), or set generate.engine to torch.") from None


def device(torch_device: str, cuda_count: int) -> str:
    """CTranslate2 runs on CUDA or the CPU: on CUDA where the pipeline's device is a GPU it can see."""
    return "cuda" if torch_device == "cuda" and cuda_count > 0 else "cpu"


def resolve(setting: str, where: str, supported: set[str], version: str = "") -> tuple[str, str]:
    """(compute type, why) for generate.compute_type on a device whose supported compute types are `supported`.
    auto: int8 on a CPU; bfloat16 on a GPU that has it, else float32 (T5 overflows in float16, so auto never picks
    it; float16 and int8_float16 are there to be asked for)."""
    if setting == "auto":
        if where == "cpu":
            choice = "int8" if "int8" in supported else "float32"
            return choice, f"auto: {choice} on the CPU"
        choice = "bfloat16" if "bfloat16" in supported else "float32"
        why = "the GPU has bfloat16" if choice == "bfloat16" else "the GPU lacks bfloat16 and T5 overflows in float16"
        return choice, f"auto: {choice} ({why})"
    if setting not in supported:
        raise ParamsError("generate.compute_type", f"{setting} is not available on this {where.upper()} to "
                                                   f"CTranslate2 {version} (it offers {', '.join(sorted(supported))}); "
                                                   "set auto or one of those.")
    return setting, f"{setting} asked for in params.yaml"


def generation_config(folder: Path):
    """The generation config generate() uses for the model in `folder` (built from its config when it has none)."""
    from transformers import AutoConfig, GenerationConfig

    try:
        if (Path(folder) / "generation_config.json").is_file():
            return GenerationConfig.from_pretrained(str(folder), local_files_only=True)
        return GenerationConfig.from_model_config(AutoConfig.from_pretrained(str(folder), local_files_only=True))
    except (OSError, ValueError) as error:  # as the torch engine's loading says it (models.load)
        raise UserError(f"could not read the model's configuration in {folder} ({type(error).__name__}: "
                        f"{str(error).splitlines()[0]}): give a folder that holds a model.") from None


def _set(config, name, neutral=None):
    value = getattr(config, name, None)
    return neutral if value is None else value


def refusal(config, cfg, source: str = "the model's generation config") -> tuple[str, str] | None:
    """(the key to change, why) when generate() with this generation config (named `source`) and params generate
    decodes in a way CTranslate2 cannot reproduce exactly; None when the two engines decode alike."""
    differs = [name for name, neutral in NEUTRAL.items() if _set(config, name, neutral) != neutral]
    if differs:
        return "generate.engine", (f"{source} sets {', '.join(differs)}, which the ctranslate2 "
                                   "engine cannot reproduce; set generate.engine to torch, or remove it from "
                                   "generation_config.json.")
    if _set(config, "no_repeat_ngram_size", 0):
        return "generate.engine", (f"{source} sets no_repeat_ngram_size, which CTranslate2 "
                                   "applies differently (before the log-softmax, and without the decoder start "
                                   "token in its n-grams), so it would write other summaries; set generate.engine "
                                   "to torch, or remove it from generation_config.json.")
    if cfg.num_beams == 1:
        return None
    if _least(config):
        return "generate.num_beams", (f"{source} sets a minimum length (min_length or "
                                      "min_new_tokens), which with beam search CTranslate2 applies before the "
                                      "log-softmax and transformers after it, so the beams differ; set num_beams to "
                                      "1, generate.engine to torch, or remove it from generation_config.json.")
    stopping = cfg.early_stopping if cfg.early_stopping is not None else _set(config, "early_stopping", False)
    if stopping is not True:
        return "generate.early_stopping", (f"beam search with early_stopping {stopping!r} (from {source}, as "
                                           "null asks) has no CTranslate2 equivalent; set "
                                           "generate.early_stopping to true (both engines stop once num_beams "
                                           "summaries have ended), num_beams to 1, or engine to torch.")
    return None


def _least(config) -> int:
    """The fewest new tokens generate() allows (min_length counts the decoder start token; min_new_tokens not)."""
    return max(_set(config, "min_new_tokens", 0), _set(config, "min_length", 0) - 1, 0)


def decoding_options(config, cfg, source: str = "the model's generation config") -> dict:
    """translate_batch's keywords that decode as generate() does with this generation config and params generate;
    a ParamsError naming the key to change where CTranslate2 cannot (refusal)."""
    refused = refusal(config, cfg, source)
    if refused:
        raise ParamsError(*refused)
    end = _set(config, "eos_token_id")
    options = {"beam_size": cfg.num_beams, "patience": 1, "num_hypotheses": 1,
               "length_penalty": float(_set(config, "length_penalty", 1.0)), "no_repeat_ngram_size": 0,
               "max_input_length": 0, "max_decoding_length": cfg.max_new_tokens,
               "min_decoding_length": min(_least(config), cfg.max_new_tokens), "return_scores": False}
    if end is not None:
        options["end_token"] = [end] if isinstance(end, int) else list(end)
    return options


def generator_options(options: dict, cfg) -> dict:
    """A causal LM's generate_batch keywords from translate_batch's: the answer only (the prompt fills the cache,
    include_prompt_in_result=False), at most max_new_tokens new tokens. Greedy only: beam search over a prompt was
    not checked against generate() here, so it is refused rather than decoded differently."""
    if cfg.num_beams > 1:
        raise ParamsError("generate.num_beams", f"{cfg.num_beams} beams with the ctranslate2 engine on a causal LM "
                          "(Llama, Qwen2) are not checked against transformers' generate() here; set num_beams to "
                          "1, or generate.engine to torch.")
    renamed = {"max_decoding_length": "max_length", "min_decoding_length": "min_length"}
    out = {renamed.get(k, k): v for k, v in options.items() if k != "max_input_length"}
    return {**out, "include_prompt_in_result": False}


def check_vocabulary(tokenizer) -> None:
    """The converter writes the vocabulary in token-id order: the ids must run 0..N-1 without gaps."""
    ids = sorted(tokenizer.get_vocab().values())
    if ids != list(range(len(ids))):
        raise UserError("the tokenizer's token ids are not numbered 0 to N-1 without gaps, so a CTranslate2 model "
                        "would read tokens as other tokens; set generate.engine to torch.")


def convert(model, tokenizer, config, out: Path, compute_type: str, config_folder: Path) -> None:
    """Write `model` (fp32, adapters merged) as a CTranslate2 model in `out`, weights stored as `compute_type`."""
    from ctranslate2.converters import TransformersConverter

    check_vocabulary(tokenizer)
    if getattr(model.config, "scale_decoder_outputs", None) is not None:
        # transformers 5 sets tie_word_embeddings=True for every T5 and keeps the truth in scale_decoder_outputs;
        # the converter reads tie_word_embeddings to scale the output layer, which is wrong for flan-t5's own head
        model.config.tie_word_embeddings = model.config.scale_decoder_outputs
    if config.decoder_start_token_id is not None:  # generate() starts from the generation config's token
        model.config.decoder_start_token_id = config.decoder_start_token_id

    class Converter(TransformersConverter):
        def load_model(self, model_class, path, **kwargs):
            return model

        def load_tokenizer(self, tokenizer_class, path, **kwargs):
            return tokenizer

    try:
        Converter(str(config_folder)).convert(str(out), quantization=compute_type)
    except (ValueError, NotImplementedError) as error:
        raise UserError(f"CTranslate2 cannot convert this model ({str(error).splitlines()[0]}); set "
                        "generate.engine to torch.") from None


def workers(threads: int, batch_size: int) -> tuple[int, int]:
    """(workers, threads per worker) for a CPU with `threads` threads: each batch is cut into one part per worker
    and the parts run at once, sharing the weights. A decoder step multiplies one row per dialogue, and such small
    products use a few cores far better than many, so about sqrt(threads) workers of about sqrt(threads) threads
    each: measured at flan-t5-base shape (docs/engines.md), 2 x 1 beat 1 x 2 on 2 cores by 1.3x, and 4 x 4 beat
    1 x 16 by 3.3x and 16 x 1 by 1.4x on 16. Every worker gets the same number of threads and at least one
    dialogue."""
    count = min(max(1, batch_size), math.ceil(math.sqrt(threads)))
    while threads % count:
        count -= 1
    return count, threads // count


class CTranslate2Engine:
    """A converted model and its translator: prompt token ids in, summaries out, as the torch engine batches."""

    def __init__(self, folder: Path, tokenizer, cfg, options: dict, compute_type: str, reason: str, where: str,
                 threads: int, split: tuple[int, int] | None = None, causal: bool = False):
        ctranslate2 = module()
        self.causal = causal  # a decoder-only LM: ctranslate2.Generator, the answer after the prompt
        self.folder, self.tokenizer, self.cfg, self.options = Path(folder), tokenizer, cfg, options
        self.vocabulary = tokenizer.get_vocab()
        # a GPU takes one batch at a time; a CPU's threads are split into workers that share the weights
        self.split = (1, 0) if where != "cpu" else split or workers(threads, cfg.batch_size)
        self.info = {"engine": "ctranslate2", "compute_type": compute_type, "compute_type_reason": reason,
                     "device": where, "threads": threads, "workers": self.split[0],
                     "ctranslate2": ctranslate2.__version__}
        kind = ctranslate2.Generator if causal else ctranslate2.Translator
        self.translator = kind(str(folder), device=where, compute_type=compute_type,
                               inter_threads=self.split[0], intra_threads=self.split[1])
        if where == "cpu":  # CTranslate2 left this thread's OpenMP count, which torch shares, at intra_threads
            import torch

            torch.set_num_threads(threads)

    def summarize(self, inputs: list[list[int]], progress=False) -> list[str]:
        outputs = [""] * len(inputs)
        with tqdm(total=len(inputs), desc="generate", unit="dialogue", disable=None if progress else True) as bar:
            for chunk in longest_first(inputs, self.cfg.batch_size):
                source = [self.tokenizer.convert_ids_to_tokens(list(inputs[i])) for i in chunk]
                part = -(-len(chunk) // self.split[0])  # one part per worker, run at once
                run = self.translator.generate_batch if self.causal else self.translator.translate_batch
                results = run(source, max_batch_size=part, **self.options)
                # a token past the tokenizer's vocabulary (the model's padding rows) decodes to nothing in
                # generate() too
                ids = [[self.vocabulary[t] for t in (r.sequences if self.causal else r.hypotheses)[0]
                        if t in self.vocabulary] for r in results]
                for i, text in zip(chunk, self.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                    outputs[i] = text.strip()
                bar.update(len(chunk))
        return outputs

    def describe(self) -> dict:
        return dict(self.info)
