"""The training loss: mean token cross-entropy over the effective batch, whatever its split.

T5's own loss is a per-micro-batch mean, but its forward accepts **kwargs, so transformers 5's Trainer treats
it as normalised over the whole accumulated batch and stops dividing by the accumulation steps: the loss and
gradients came out k times too large. Here the Trainer's `compute_loss_func` hook gets the label token count
of the whole effective batch (`num_items_in_batch`, all micro-batches, all processes when
average_tokens_across_devices is on) and divides the summed token loss by it, so 8 x 1, 2 x 4 and
2 processes x 4 x 1 give the same loss and gradients."""
import torch
import torch.nn.functional as F

IGNORE = -100  # DataCollatorForSeq2Seq's label padding


def token_loss(outputs, labels, num_items_in_batch=None):
    """Summed cross-entropy of the target tokens / the effective batch's target token count
    (this micro-batch's own count where the Trainer gives none, as in evaluation)."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.to(logits.device).reshape(-1),
                            ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else labels.ne(IGNORE).sum()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count
