"""Weights on disk: safetensors only, and a checkpoint's own lm_head kept separate.

What to say when a model folder holds pickled or damaged weights:

A pickle (pytorch_model.bin, *.pt, *.ckpt) can run code when it is read, so no stage reads one; a
model.safetensors that is cut short or corrupt is named as such instead of a SafetensorError traceback.
"""
from pathlib import Path

from ..io.errors import UserError, pull_hint

SAFE = ("model.safetensors", "model.safetensors.index.json")
PICKLES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.ckpt")
CONVERT = ("python -c \"from transformers import AutoModelForSeq2SeqLM as M; "
           "M.from_pretrained('DIR', use_safetensors=False).save_pretrained('DIR-safe')\"")


def only_pickles(where: str) -> UserError:
    return UserError(
        f"{where} has no model.safetensors; only safetensors weights are loaded here, because a pickled "
        "checkpoint (pytorch_model.bin) can run code when it is read. If you trust the file, convert it "
        f"once, in an environment you are willing to expose, with {CONVERT} and point model.name at "
        "DIR-safe; or download the model's safetensors files from its Hub page.")


def check_folder(name: str) -> None:
    """A local model folder must hold safetensors weights; say how to convert when it has only a pickle."""
    folder = Path(name).expanduser()
    if not folder.is_dir() or any((folder / f).is_file() for f in SAFE):
        return
    if any((folder / f).is_file() for f in PICKLES):
        raise only_pickles(f"the model folder {name}")


def explain(error: Exception, where: str, local: bool) -> UserError | None:
    """A UserError for a load failure that safetensors explain, or None to let the caller report it."""
    from safetensors import SafetensorError

    if isinstance(error, SafetensorError):
        return UserError(f"the weights in {where} are damaged ({str(error).splitlines()[0]}): its "
                         ".safetensors file is truncated or corrupt, often from an interrupted copy or "
                         f"download. Write or download it again (`dvc repro` the stage that wrote it){pull_hint()}.")
    if "cannot be loaded with `safetensors`" in str(error):  # transformers' words for a pickle-only repo
        return only_pickles(where)
    return None


# Keeping a checkpoint's separate output layer (lm_head) separate through any later tie_weights().
#
# transformers 5 forces T5Config.tie_word_embeddings=True, so model.tie_weights() (which accelerate calls for
# FSDP's fsdp_cpu_ram_efficient_loading) ties flan-t5's own lm_head back to the input embedding and changes its
# logits. from_pretrained itself keeps it untied; here the model instance stops listing lm_head as tied.
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
