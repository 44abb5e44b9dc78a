"""Stage train_full: fine-tune every weight of the base model; writes models/full."""
from . import modeling, params, training
from .errors import run
from .files import wrote


def main() -> None:
    p = params.load()
    tokenizer = modeling.load_tokenizer()
    model = modeling.load_model()

    def save(model, directory, **kwargs):
        model.save_pretrained(directory, **kwargs)  # safetensors; kwargs: FSDP's gathered state_dict
        tokenizer.save_pretrained(directory)

    training.train("train_full", p.train_full, model, tokenizer, modeling.FULL, save, decoding=p.generate)
    wrote(modeling.FULL, "metrics/train_full.json", "plots/train_full")


if __name__ == "__main__":
    run(main)
