"""Loading, snapshotting and measuring models: the base model, full fine-tunes and LoRA adapters."""
import os
import resource
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

from . import hardware, identity, weights
from ..io import net
from ..io.errors import UserError, pull_hint
from ..io.files import atomic_path

BASE = Path("models/base")
FULL = Path("models/full")
LORA = Path("models/lora")


def device() -> torch.device:
    """CUDA, else Apple's GPU (MPS), else the CPU: stages/modeling/hardware.py decides."""
    return torch.device(hardware.choose_device(hardware.detect()))


def world_size() -> int:
    """Processes of this run: torchrun and accelerate launch set WORLD_SIZE; a plain python run is 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of a distributed run (or the only process): the one that writes outputs."""
    return int(os.environ.get("RANK", "0")) == 0


def resolve_precision(setting: str) -> str:
    """'auto' means bf16 where the hardware multiplies it natively, fp32 otherwise (never fp16: T5 overflows);
    stages/modeling/hardware.py decides, and says why (hardware.decision(setting).record() for the metrics)."""
    return hardware.decision(setting).precision


def _from_pretrained(loader, name: str, revision: str | None, **kwargs):
    local = Path(name).expanduser().is_dir()
    if not local and revision is None:  # a folder the pipeline writes (models/base...), not a Hub id
        raise UserError(f"{name} does not exist: run `dvc repro` (prepare writes models/base, train_full "
                        f"models/full){pull_hint()}, or give a folder that holds a model.")
    try:
        if local:
            return loader.from_pretrained(str(Path(name).expanduser()), local_files_only=True, **kwargs)
        net.configure_hub()  # a Hub that never answers is an error after STAGES_NET_TIMEOUT, not a hang
        return loader.from_pretrained(name, revision=revision, **kwargs)
    except Exception as error:  # noqa: BLE001 - narrowed just below
        where = f"the directory {name}" if local else f"{name!r} at revision {revision!r} from the Hugging Face Hub"
        explained = weights.explain(error, where, local)  # pickles only, or damaged safetensors
        if explained:
            raise explained from None
        if not local and not isinstance(error, (OSError, ValueError, EnvironmentError)):
            raise
        # In a local folder, whatever transformers fails on is that folder's content (a tokenizer_config.json
        # holding a list raised AttributeError, a config.json a TypeError): one message naming the folder.
        raise UserError(
            f"could not load a {loader.__name__.replace('Auto', '').replace('Config', ' config').lower().strip()} "
            f"from {where} "
            f"({net.reason(error)}). "
            + ("A file in that folder is damaged or not what transformers writes: give a directory (model.name, "
               "--model, --models NAME=DIR) holding config.json, model.safetensors and the tokenizer files as "
               "save_pretrained writes them" if local else
               "Set model.name to a Hub id you can reach or to a local directory holding config.json, "
               "model.safetensors and the tokenizer files")
            + f"{pull_hint('to fetch models/base')}."
        ) from None


def snapshot_base(name: str, revision: str, out=BASE) -> None:
    """Copy the base model and tokenizer into a DVC-tracked folder, so later stages never need the Hub."""
    from ..data import vocab  # only prepare snapshots: other stages need not depend on it

    vocab.check_files(name)
    weights.check_folder(name)
    tokenizer = _from_pretrained(AutoTokenizer, name, revision)
    model = _from_pretrained(AutoModelForSeq2SeqLM, name, revision, use_safetensors=True)  # never a pickle
    if not model.config.is_encoder_decoder:
        raise UserError(f"model.name {name!r} is not an encoder-decoder (seq2seq) model such as flan-t5.")
    check_tokenizer(name, tokenizer, model)
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)  # safetensors
        tokenizer.save_pretrained(tmp)
        vocab.stable_config(tmp)  # the same bytes online and offline


def check_tokenizer(name: str, tokenizer, model) -> None:
    """A tokenizer from another model gives token ids the model reads as other words: refuse it."""
    problems = []
    if len(tokenizer) > model.config.vocab_size:
        problems.append(f"it has {len(tokenizer)} tokens but the model's vocabulary only {model.config.vocab_size}")
    for token in ("pad", "eos"):
        ours, theirs = getattr(tokenizer, f"{token}_token_id"), getattr(model.config, f"{token}_token_id", None)
        if theirs is not None and ours != theirs:
            problems.append(f"its {token} token id is {ours} but the model's is {theirs}")
    if problems:
        raise UserError(f"the tokenizer in {name} does not match its model: {'; '.join(problems)}. Keep the "
                        "tokenizer files that were published with the model in the same directory.")


def load_tokenizer(path=BASE, revision=None):
    return _from_pretrained(AutoTokenizer, str(path), revision)


def tokenizer_folder(folder, base=BASE) -> Path:
    """Where the tokenizer a model or adapter folder was trained with lies: in that folder; for an adapter
    without one, in its base's once identity.py proves it is that one. A model folder without one is refused:
    another model's tokenizer gives ids that its vocabulary reads as other words."""
    folder = Path(folder)
    if not folder.is_dir() or identity.has_tokenizer(folder):
        return folder  # a missing folder: load_tokenizer says what to run
    if (folder / "adapter_config.json").is_file():
        identity.check_tokenizer(folder, base)
        return Path(base)
    raise UserError(f"{folder} holds a model but no tokenizer files ({', '.join(identity.TOKENIZER_FILES)}, or "
                    f"{' + '.join(identity.BPE_FILES)}): it is not encoded with another model's tokenizer, whose "
                    "ids its vocabulary would read as other words. Copy the tokenizer it was trained with into "
                    "that folder (`tokenizer.save_pretrained(DIR)`, or the tokenizer files published with it).")


def own_tokenizer(folder, base=BASE):
    """The tokenizer `folder` (a model, or an adapter on `base`) was trained with, checked against its model's
    config (stages/inference/specs.py tokenizer() gives it for base, full, lora or a folder)."""
    found = tokenizer_folder(folder, base)
    tokenizer = load_tokenizer(found)
    config_from = base if (Path(folder) / "adapter_config.json").is_file() else folder
    config = _from_pretrained(AutoConfig, str(config_from), None)
    check_tokenizer(str(found), tokenizer, SimpleNamespace(config=config))
    return tokenizer


def load_model(path=BASE, dtype=torch.float32):
    # use_safetensors: a checkpoint is never unpickled.
    weights.check_folder(str(path))  # a folder of pickles only: say how to convert
    if Path(path, "generation_config.json").is_file():
        # transformers skips one it cannot read and decodes with defaults made from config.json: the model's own
        # beams and lengths silently gone (the CTranslate2 engine refuses it): read here, so it is refused too
        _from_pretrained(GenerationConfig, str(path), None)
    model = _from_pretrained(AutoModelForSeq2SeqLM, str(path), None, dtype=dtype, use_safetensors=True)
    return weights.keep_head_untied(model, path)  # flan-t5's own lm_head must survive accelerate's tie_weights()


def linear_names(model) -> list[str]:
    """Short names of the model's linear layers: what LoRA can target."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)})


def load_adapter(model, path=LORA, name="default"):
    """Wrap a base model with the adapter in `path`, or add it under `name` to a model already wrapped
    (adapters share the one base model; PeftModel.set_adapter switches between them)."""
    from peft import PeftModel

    if not (Path(path) / "adapter_config.json").is_file():
        raise UserError(f"{path} holds no LoRA adapter (adapter_config.json): run `dvc repro train_lora` "
                        f"first{pull_hint()}, or point at an adapter directory.")
    if not (Path(path) / "adapter_model.safetensors").is_file():
        # peft would fall back to adapter_model.bin, a pickle: only safetensors are loaded here.
        raise UserError(f"{path} has no adapter_model.safetensors; only safetensors weights are loaded (a .bin "
                        "file is a pickle that can run code). Save the adapter with safe_serialization=True.")
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    identity.check(path, getattr(base, "name_or_path", "") or "")  # the folder load_model read, e.g. models/base
    try:
        if isinstance(model, PeftModel):
            model.load_adapter(str(path), adapter_name=name, is_trainable=False)
            return model
        return PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
    except Exception as error:  # noqa: BLE001 - narrowed just below
        explained = weights.explain(error, f"the adapter folder {path}", True)  # a damaged safetensors file
        if explained:
            raise explained from None
        if not isinstance(error, (RuntimeError, ValueError, KeyError)):
            raise
        raise UserError(f"the adapter in {path} does not fit this base model ({str(error).splitlines()[0]}); "
                        "was it trained on another base model?") from None


def load_merged(adapter=LORA):
    """The base model with `adapter` merged in, in fp32: a standalone model, rounded once if cast later."""
    return load_adapter(load_model(BASE), adapter).merge_and_unload()


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total), counting each shared tensor once."""
    seen, trainable, total = set(), 0, 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total


def peak_memory_bytes() -> dict:
    """GPU: max allocated and max reserved by torch; otherwise the process's peak resident set size; each the
    maximum over the run's processes. In a process group this is a collective: every rank must call it."""
    import torch.distributed as dist

    grouped = dist.is_available() and dist.is_initialized()
    kind = device().type
    if kind == "cuda":
        local = {"allocated": torch.cuda.max_memory_allocated(), "reserved": torch.cuda.max_memory_reserved()}
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        local = {"rss": rss if sys.platform == "darwin" else rss * 1024}
    return hardware.peak_memory_record(kind, local, hardware.all_reduce_max if grouped else None,
                                       dist.get_world_size() if grouped else 1)
