"""Stage train_lora: train a LoRA adapter on the frozen base model; writes only the adapter to models/lora."""
from transformers import set_seed

from .training import adapters, loop, quantize
from .modeling import identity, models
from .io import stage
from .io.errors import run
from .io.files import wrote


def main() -> None:
    p = stage.start("train_lora")
    quantized = quantize.setting(p)
    loading = quantize.loading_kwargs(quantized)  # refused here where CUDA or bitsandbytes is absent
    tokenizer = models.load_tokenizer()
    set_seed(p.train_lora.seed)  # the adapter's initial weights are random: same seed, same adapter
    base = quantize.prepared(models.load_model(**loading), quantized, p.train_lora.gradient_checkpointing)
    model = adapters.add(base, p.lora)
    model.print_trainable_parameters()

    def save(model, directory, **kwargs):
        model.save_pretrained(directory, **kwargs)  # adapter weights and config only, safetensors
        identity.record(directory, models.BASE)  # which base weights it belongs to: loading checks them

    loop.train("train_lora", p.train_lora, model, tokenizer, models.LORA, save, decoding=p.generate,
                   setup=lambda trainer: adapters.use_loraplus(trainer, p.lora))
    wrote(models.LORA, "metrics/train_lora.json", "plots/train_lora")


if __name__ == "__main__":
    run(main)
