"""Stage train_full: fine-tune every weight of the base model; writes models/full."""
from .modeling import models
from .io import stage
from .training import loop, memory
from .io.errors import run
from .io.files import wrote


def main() -> None:
    p = stage.start("train_full")
    tokenizer = models.load_tokenizer()
    model = models.load_model()

    def save(model, directory, **kwargs):
        model.config.use_cache = True  # the Trainer turns the decoding cache off for training; users decode
        model.save_pretrained(directory, **kwargs)  # safetensors; kwargs: FSDP's gathered state_dict
        tokenizer.save_pretrained(directory)

    memory.check_full("train_full", p.train_full, model)  # what it needs, before the first step
    loop.train("train_full", p.train_full, model, tokenizer, models.FULL, save, decoding=p.generate)
    wrote(models.FULL, "metrics/train_full.json", "plots/train_full")


if __name__ == "__main__":
    run(main)
