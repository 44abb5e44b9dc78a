"""Keeping a checkpoint's separate output layer (lm_head) separate through any later tie_weights().

transformers 5 forces T5Config.tie_word_embeddings=True, so model.tie_weights() (which accelerate calls for
FSDP's fsdp_cpu_ram_efficient_loading) ties flan-t5's own lm_head back to the input embedding and changes its
logits. from_pretrained itself keeps it untied; here the model instance stops listing lm_head as tied."""
from pathlib import Path

HEAD = "lm_head.weight"


def checkpoint_has_head(path) -> bool:
    """Whether the safetensors checkpoint in `path` stores lm_head.weight of its own (an untied head)."""
    from safetensors import safe_open

    for file in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            if HEAD in handle.keys():
                return True
    return False


def keep_head_untied(model, path):
    """If the checkpoint has its own lm_head, drop lm_head from this model's tie mapping (instance only)."""
    if checkpoint_has_head(path) and HEAD in (getattr(model, "_tied_weights_keys", None) or {}):
        model._tied_weights_keys = {k: v for k, v in model._tied_weights_keys.items() if k != HEAD}
        model.all_tied_weights_keys = model.get_expanded_tied_weights_keys(all_submodels=True)
    return model


def head_is_tied(model) -> bool:
    return model.get_output_embeddings().weight is model.get_input_embeddings().weight
