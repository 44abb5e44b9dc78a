"""Which kind of model a folder or Hub id holds, read from its config, never from its name: an encoder-decoder
(flan-t5 and other T5-like seq2seq models) or a decoder-only causal LM of a family this project has tested
(Llama, which SmolLM2 also is, and Qwen2). Every stage that loads, trains, prompts or decodes a model asks here."""
from ..io.errors import UserError

SEQ2SEQ = "seq2seq"
CAUSAL = "causal"
# model_type values whose causal LMs were run here (tiny random models of each in the tests)
CAUSAL_TYPES = ("llama", "qwen2")


def of_config(config, name: str = "the model") -> str:
    """SEQ2SEQ or CAUSAL for a transformers config; a UserError naming what is supported otherwise."""
    if getattr(config, "is_encoder_decoder", False):
        return SEQ2SEQ
    model_type = getattr(config, "model_type", None)
    architectures = getattr(config, "architectures", None) or []
    if model_type in CAUSAL_TYPES and (not architectures or any(a.endswith("ForCausalLM") for a in architectures)):
        return CAUSAL
    raise UserError(f"{name} is a {model_type or 'model of unknown type'} model "
                    f"({', '.join(architectures) or 'no architectures listed'} in its config.json): this project "
                    f"trains encoder-decoder models such as flan-t5 and decoder-only causal LMs of the "
                    f"{', '.join(CAUSAL_TYPES)} families (Llama, SmolLM2, Qwen2/Qwen2.5). Set model.name to one of "
                    "those (docs/models.md).")


def is_causal(model) -> bool:
    """Whether a loaded model (a PeftModel too: its config is the base model's) is a causal LM: loading it went
    through of_config, so its config alone says so."""
    config = getattr(model, "config", None)
    return not getattr(config, "is_encoder_decoder", True) and getattr(config, "model_type", None) in CAUSAL_TYPES


def loader(family: str):
    """The transformers Auto class that loads a model of `family`."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForCausalLM if family == CAUSAL else AutoModelForSeq2SeqLM
