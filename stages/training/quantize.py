"""QLoRA: params lora.quantize (null, 4bit or 8bit) loads the frozen base model quantized by bitsandbytes for
train_lora. bitsandbytes is not a requirement of this project: it is imported only when asked for, and a machine
without a CUDA GPU or without the package is refused before anything loads, saying what to do. The adapter is
saved as usual; generation merges it into the fp32 base (stages/inference/specs.py), as it does any adapter."""
from ..io.errors import ParamsError, UserError

SETTINGS = (None, "4bit", "8bit")


def setting(p) -> str | None:
    """params lora.quantize."""
    return p.lora.quantize


def loading_kwargs(value: str | None) -> dict:
    """from_pretrained's keywords for lora.quantize: none for null; a refusal where the hardware cannot."""
    if value is None:
        return {}
    if value not in SETTINGS:
        raise ParamsError("lora.quantize", f"{value!r} is not one of null, 4bit, 8bit.")
    import torch

    if not torch.cuda.is_available():
        raise UserError(f"params.yaml: lora.quantize: {value} (QLoRA) needs a CUDA GPU, which bitsandbytes quantizes "
                        "on; this machine has none. Set lora.quantize to null to train the adapter on the "
                        "unquantized base model, or run on a machine with an NVIDIA GPU.")
    try:
        import bitsandbytes  # noqa: F401 - only asked for here
    except ImportError:
        raise UserError(f"params.yaml: lora.quantize: {value} (QLoRA) needs the bitsandbytes package, which is not "
                        "installed (it is not in requirements.txt: pip install bitsandbytes), or set lora.quantize "
                        "to null.") from None
    from transformers import BitsAndBytesConfig

    if value == "8bit":
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True,
                                                      bnb_4bit_compute_dtype=torch.bfloat16)}


def prepared(model, value: str | None, checkpointing: bool):
    """The quantized base readied for training (peft's prepare_model_for_kbit_training); others as they are."""
    if value is None:
        return model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
