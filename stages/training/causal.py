"""Training batches and loss for a decoder-only causal LM (flan-t5's are DataCollatorForSeq2Seq and
loop.token_mean_loss).

One row of data/prepared is a prompt (input_ids) and its summary with the end token (labels). The model reads
both as one sequence; the loss is on the summary and its end token only. Labels are aligned with input_ids (-100
on the prompt and on padding), as transformers lays them out for causal LMs, so the Trainer counts the target
tokens of the effective batch itself (num_items_in_batch, over labels[..., 1:]); the loss shifts them by one and
divides the summed cross-entropy by that count, as flan-t5's loss does: the same mean over the effective batch
for any split into micro-batches and processes. Padding goes on the right (positions count from the start; the
attention mask hides it) and is masked by position, never by token id: the end token is a label even where the
shipped pad token is that token."""
import torch
import torch.nn.functional as F

from .progress import IGNORE


class CausalCollator:
    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None):
        self.pad_id, self.multiple = pad_id, pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict:
        rows = [(list(f["input_ids"]), list(f["labels"])) for f in features]
        width = max(len(p) + len(s) for p, s in rows)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        ids, mask, labels = [], [], []
        for prompt, summary in rows:
            pad = width - len(prompt) - len(summary)
            ids.append(prompt + summary + [self.pad_id] * pad)
            mask.append([1] * (len(prompt) + len(summary)) + [0] * pad)
            labels.append([IGNORE] * len(prompt) + summary + [IGNORE] * pad)
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def token_mean_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Summed cross-entropy of each position's next token / target tokens of the effective batch."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    labels = labels.to(logits.device)[:, 1:]
    logits = logits[:, :-1]
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                            ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else labels.ne(IGNORE).sum()
    if torch.is_tensor(count):
        return total / count.to(total.device).clamp(min=1)
    return total / max(count, 1)
