"""How far float rounding alone can move a model's logits: the tolerance for comparing two computations of one
function (a LoRA adapter applied on the fly and merged into the weights), derived instead of picked."""
import torch


def with_rounding_bound(model, compute, dtype):
    """(compute()'s logits, a bound on their rounding error in `dtype`).

    Rounding error of a logit scales with the magnitudes in its computation, not with its value: a merged LoRA+
    adapter (B trained 16x faster) has larger weights and activations, so larger error, while a logit near 0 has
    the same absolute error as a large one (a fixed rtol/atol of 1e-4 failed once on 1.8e-4). Textbook worst case
    (Higham, gamma_n): a dot product of inner dimension n in a format of unit roundoff u is off by at most
    n * u * sum|a_i b_i|. Through the network each of its `depth` matmuls adds at most that much relative error to
    what it passes on (first order, no amplification), so a logit z_v = h . e_v is off by at most
    depth * n_max * u * (|h| . |e_v|), n_max the largest inner dimension. Loose on purpose (worst case, not
    sqrt(n)): on the tests' tiny T5 it is ~0.07 in fp32 and ~1e-10 in fp64, where rounding gives at most ~5e-5 and
    ~2e-13, and a trained adapter moves logits by 20-35."""
    captured = {}
    head = model.get_output_embeddings()
    hook = head.register_forward_hook(lambda module, args, out: captured.update(h=args[0]))
    try:
        values = compute()
    finally:
        hook.remove()
    magnitude = (captured["h"].abs().to(dtype) @ head.weight.abs().to(dtype).T).max().item()  # max_v |h| . |e_v|
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    attention = sum(type(m).__name__.endswith("Attention") for m in model.modules())
    depth = len(linear) + 2 * attention  # every linear layer, and each attention's QK^T and softmax(.)V
    inner = max(m.in_features for m in linear)
    return values, depth * inner * torch.finfo(dtype).eps / 2 * magnitude
