"""What a model name or folder means: base, full, lora (as the pipeline generates with them), or a directory
holding a full model or a LoRA adapter; loaded in fp32 with an adapter merged into its base."""
from pathlib import Path

from ..data import dialogsum
from ..io.errors import UserError
from ..modeling import models


def kind(spec, given_as: str = "") -> str:
    """'model' or 'adapter' for what `spec` names; a UserError for anything else, naming the option as the user
    gave it (`given_as`, by default `--model SPEC`)."""
    if spec in dialogsum.MODELS:
        return "adapter" if spec == "lora" else "model"
    path, given_as = Path(spec), given_as or f"--model {spec}"
    try:
        if (path / "adapter_config.json").is_file():
            return "adapter"
        if (path / "config.json").is_file():
            return "model"
    except OSError as error:  # a name too long for the file system, a folder this user may not search
        raise UserError(f"{given_as}: {error.strerror}.") from None
    raise UserError(f"{given_as}: not base, full or lora, nor a directory holding a model (config.json) "
                    "or a LoRA adapter (adapter_config.json).")


def folder(spec) -> Path:
    """The folder of the model or adapter itself."""
    if spec in dialogsum.MODELS:
        return {"base": models.BASE, "full": models.FULL, "lora": models.LORA}[spec]
    return Path(spec)


def tokenizer(spec):
    """The tokenizer `spec` was trained with: its own folder's, an adapter's base's only where that is proven
    (models.own_tokenizer); what every engine, summarize and serve encode and decode it with."""
    kind(spec)
    return models.own_tokenizer(folder(spec))


def config_folder(spec) -> Path:
    """The folder with the config and generation config that decode `spec`: an adapter's base model."""
    return models.BASE if kind(spec) == "adapter" else folder(spec)


def weight_folders(spec) -> list[Path]:
    """Every folder whose files make the weights of `spec` (an adapter: its base model too)."""
    return [models.BASE, folder(spec)] if kind(spec) == "adapter" else [folder(spec)]


def fp32_model(spec):
    """The model in fp32; an adapter is merged into the base model here, so that any later rounding (bf16,
    int8) happens once, after the merge."""
    if kind(spec) == "adapter":
        path = models.LORA if spec == "lora" else Path(spec)
        return models.load_adapter(models.load_model(models.BASE), path).merge_and_unload()
    return models.load_model(folder(spec))
