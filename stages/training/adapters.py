"""LoRA and the variants people now use, from params lora.*: which layers (a list or all-linear), DoRA, rsLoRA,
and LoRA+ (a higher learning rate for the B matrices, through the trainer's optimizer). A variant the installed
PEFT lacks stops the stage with the version it needs."""
import dataclasses
import warnings

from ..io.errors import ParamsError, UserError

ALL_LINEAR = "all-linear"


def _peft_lacks(what: str, key: str, version: str) -> UserError:
    import peft

    return UserError(f"params.yaml: {key}: the installed peft {peft.__version__} has no {what} (it needs peft >= "
                     f"{version}); upgrade peft (pip install -U peft) or turn {key} off.")


def config(model, lora):
    """A LoraConfig for `model` from params lora, after checking the target layers exist and PEFT has the variant."""
    from peft import LoraConfig, TaskType

    from ..modeling.models import linear_names

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
        missing = [m for m in lora.target_modules if m not in available]
        if missing:
            raise ParamsError("lora.target_modules", f"{', '.join(missing)} not found in the model; its linear "
                                                     f"layers are named {', '.join(available)}, or use all-linear.")
        targets = list(lora.target_modules)
    variants = {name: True for name in ("use_dora", "use_rslora") if getattr(lora, name, False)}
    return LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=targets, **variants)


def add(model, lora):
    """Wrap a model with a fresh adapter per params lora."""
    from peft import get_peft_model

    lora_config = config(model, lora)
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
