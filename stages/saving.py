"""Gathering the trained weights on every rank before rank 0 writes them.

Under FSDP the weights are sharded DTensors: reading them (save_pretrained, state_dict) is a collective that
every rank must join, so rank 0 saving alone waits forever. As transformers' Trainer.save_model does, all ranks
gather the full state dict through accelerate; rank 0 then writes it. Without FSDP nothing is gathered."""
from .errors import UserError


def check_fsdp(stage: str, cfg, trainer) -> None:
    """Best-step weights are saved and reloaded, and validation summaries generated, by single processes: under
    FSDP's sharded weights each would wait on the other ranks forever. Until those gather too, FSDP keeps the
    last step; refuse before training rather than hang after it."""
    if getattr(trainer, "is_fsdp_enabled", False) and (cfg.select_metric != "last" or cfg.rouge_samples != 0):
        raise UserError(f"under FSDP, {stage} can only keep the last step: set {stage}.select_metric to last and "
                        f"{stage}.rouge_samples to 0, or train with DDP (configs/ddp.yaml), which supports both.")


def gathered_state_dict(trainer) -> dict | None:
    """Call on every rank. The full state dict under FSDP (on rank 0; accelerate returns it there), else None."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        return None
    return trainer.accelerator.get_state_dict(trainer.model)


def save_kwargs(state_dict) -> dict:
    """save_pretrained's keywords: the gathered state dict where there is one."""
    return {} if state_dict is None else {"state_dict": state_dict}


def model_to_save(trainer):
    return trainer.accelerator.unwrap_model(trainer.model)
