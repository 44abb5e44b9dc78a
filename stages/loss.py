"""The training loss: mean cross-entropy over the target tokens of the whole effective batch.

transformers 5's Trainer passes `num_items_in_batch` (the target tokens of every micro-batch of one optimizer
step, over all processes) to a model whose forward takes **kwargs, and then no longer divides the loss by the
accumulation steps. T5 takes **kwargs but ignores the count: it returns a per-micro-batch mean, so with k
accumulation steps the loss, the gradients and gradient clipping came out k times too large. Given to the
Trainer as `compute_loss_func`, this function divides the summed token loss by that count instead, so
8 x 1, 2 x 4 and 2 processes x 4 x 1 give the same loss and the same gradients.
"""
import torch
import torch.nn.functional as F

IGNORE = -100  # label padding (DataCollatorForSeq2Seq's label_pad_token_id)


def token_mean_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Summed cross-entropy of this micro-batch / target tokens of the effective batch (or of this batch)."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    labels = labels.to(logits.device)
    # fp32 for the softmax even under bf16 autocast: a bf16 sum over a 32k vocabulary loses digits.
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                            ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else labels.ne(IGNORE).sum()
    if torch.is_tensor(count):
        count = count.to(total.device).clamp(min=1)
    return total / max(count, 1) if not torch.is_tensor(count) else total / count
