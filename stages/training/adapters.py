"""LoRA and the variants people now use, from params lora.*: which layers (a list or all-linear), DoRA, rsLoRA,
and LoRA+ (a higher learning rate for the B matrices, through the trainer's optimizer). A variant the installed
PEFT lacks stops the stage with the version it needs."""
import dataclasses
import math
import warnings

from ..io.errors import ParamsError, UserError

ALL_LINEAR = "all-linear"
T5_DEFAULT = ["q", "v"]  # params.yaml's lora.target_modules: flan-t5's query and value projections
# A causal LM's attention and MLP projections (Llama, SmolLM2, Qwen2), used where params keep T5_DEFAULT
CAUSAL_DEFAULT = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _peft_lacks(what: str, key: str, version: str) -> UserError:
    import peft

    return UserError(f"params.yaml: {key}: the installed peft {peft.__version__} has no {what} (it needs peft >= "
                     f"{version}); upgrade peft (pip install -U peft) or turn {key} off.")


def config(model, lora):
    """A LoraConfig for `model` from params lora, after checking the target layers exist and PEFT has the variant."""
    from peft import LoraConfig, TaskType

    from ..modeling import family
    from ..modeling.models import linear_names

    causal = family.is_causal(model)
    fields = {f.name for f in dataclasses.fields(LoraConfig)}
    # getattr: callers that build a plain namespace of r, alpha, dropout, target_modules get plain LoRA
    for name, on, version in (("use_dora", getattr(lora, "use_dora", False), "0.9"),
                              ("use_rslora", getattr(lora, "use_rslora", False), "0.7")):
        if on and name not in fields:
            raise _peft_lacks(name.removeprefix("use_"), f"lora.{name}", version)
    if lora.target_modules == ALL_LINEAR:
        try:
            from peft.utils.constants import INCLUDE_LINEAR_LAYERS_SHORTHAND  # noqa: F401
        except ImportError:
            raise _peft_lacks("target_modules: all-linear", "lora.target_modules", "0.8") from None
        targets = ALL_LINEAR  # every linear layer but the output head
    else:
        available = linear_names(model)
        wanted = list(lora.target_modules)
        if causal and wanted == T5_DEFAULT and not set(T5_DEFAULT) & set(available):
            wanted = [m for m in CAUSAL_DEFAULT if m in available]  # flan-t5's default means these here
        missing = [m for m in wanted if m not in available]
        if missing:
            raise ParamsError("lora.target_modules", f"{', '.join(missing)} not found in the model; its linear "
                                                     f"layers are named {', '.join(available)}, or use all-linear.")
        targets = wanted
    variants = {name: True for name in ("use_dora", "use_rslora") if getattr(lora, name, False)}
    task = TaskType.CAUSAL_LM if causal else TaskType.SEQ_2_SEQ_LM
    return LoraConfig(task_type=task, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=targets, **variants)


def scale_note(lora) -> str | None:
    """What rsLoRA does to the adapter's scale, in figures. PEFT multiplies B @ A by alpha / r, or by alpha / sqrt(r)
    with use_rslora: at the usual alpha = r that is sqrt(r) (5.66 at r = 32) times plain LoRA's scale of 1, a
    larger update at the same learning rate that nothing else would mention."""
    if not getattr(lora, "use_rslora", False):
        return None
    scale, plain = lora.alpha / math.sqrt(lora.r), lora.alpha / lora.r
    figures = (f"lora.use_rslora scales the adapter by alpha/sqrt(r) = {lora.alpha}/sqrt({lora.r}) = {scale:.2f}, "
               f"{scale / plain:.2f} times plain LoRA's alpha/r = {plain:.2f}")
    if lora.alpha != lora.r:
        return f"note: {figures}."
    return (f"warning: {figures}: with lora.alpha equal to lora.r, each update of the adapter is {scale:.2f} times "
            f"what plain LoRA makes at the same learning rate. For plain LoRA's scale of 1 at this rank set lora.alpha "
            f"near sqrt(r) = {math.sqrt(lora.r):.2f}; or keep it, knowingly (rsLoRA's point is a scale that does not "
            f"shrink as r grows).")


def add(model, lora):
    """Wrap a model with a fresh adapter per params lora."""
    from peft import get_peft_model

    from ..modeling.models import is_main_process

    lora_config = config(model, lora)
    note = scale_note(lora)
    if note and is_main_process():
        print(note)
    with warnings.catch_warnings():
        # peft probes the deprecated model.is_gradient_checkpointing; transformers warns on each probe.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, lora_config)


def loraplus_factory():
    try:
        from peft.optimizers import create_loraplus_optimizer
    except ImportError:
        raise _peft_lacks("LoRA+ optimizer (peft.optimizers.create_loraplus_optimizer)", "lora.loraplus_lr_ratio",
                          "0.12") from None
    return create_loraplus_optimizer


def use_loraplus(trainer, lora) -> None:
    """With lora.loraplus_lr_ratio set, give the trainer LoRA+'s optimizer: its own optimizer class and settings
    (AdamW, fused where it is), B matrices at learning_rate x ratio. The scheduler then scales every group alike."""
    if getattr(lora, "loraplus_lr_ratio", None) is None:
        return
    create = loraplus_factory()
    optimizer_cls, kwargs = trainer.get_optimizer_cls_and_kwargs(trainer.args, trainer.model)
    kwargs = {k: v for k, v in kwargs.items() if k != "lr"}
    trainer.optimizer = create(trainer.model, optimizer_cls, lr=trainer.args.learning_rate,
                               loraplus_lr_ratio=lora.loraplus_lr_ratio,
                               loraplus_weight_decay=trainer.args.weight_decay, **kwargs)
    magnitudes_apart(trainer.optimizer, trainer.model, trainer.args.learning_rate)


def magnitudes_apart(optimizer, model, lr: float) -> None:
    """DoRA's magnitude vectors in a group of their own: the base learning rate, no weight decay.

    PEFT's LoRA+ puts every 1-D trainable parameter with the B matrices (ratio x the rate, weight decay): DoRA's
    per-feature magnitudes would learn 16x faster and be pulled towards 0. They are scales, like a norm's weight:
    LoRA+ speeds up B only (the paper's point), and the Trainer gives no decay to such parameters either."""
    from .checkpoints import is_magnitude

    names = {id(param): name for name, param in model.named_parameters()}
    magnitudes = []
    for group in optimizer.param_groups:
        magnitudes += [p for p in group["params"] if is_magnitude(names.get(id(p), ""))]
        group["params"] = [p for p in group["params"] if not is_magnitude(names.get(id(p), ""))]
    if magnitudes:
        optimizer.add_param_group({"params": magnitudes, "lr": lr, "weight_decay": 0.0})
