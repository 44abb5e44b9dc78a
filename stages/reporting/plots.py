"""Seaborn charts of results people compare; the data behind each goes beside it for `dvc plots`."""
import matplotlib

matplotlib.use("Agg")  # no display on training servers and CI
# Labels hold data (run names, param values): never TeX, whatever a user's matplotlibrc says; see literal().
matplotlib.rcParams["text.usetex"] = False

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..io.files import atomic_path  # noqa: E402


# One colour per source in every chart, here and in the dvc.yaml templates (.dvc/plots/*.json): seaborn's "deep".
COLORS = {"reference": "#555555", "base": "#4c72b0", "full": "#dd8452", "lora": "#55a868", "lead3": "#8c8c8c",
          "longest3": "#c7c7c7"}  # the baselines in greys: a bar to clear, not a model


def literal(text) -> str:
    """`text` drawn as written: matplotlib reads text between two `$` as mathtext (a branch `x$a_$` fails to
    draw at all); an escaped `\\$` is a plain dollar sign."""
    return str(text).replace("$", r"\$")


def save(figure, path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def rouge_bars(table: pd.DataFrame, path, subtitle: str = "") -> None:
    """Grouped bars: one group per ROUGE variant, one bar per model, with the bootstrap interval as error bars.
    10 x 5 in at 120 dpi is 1,200 px wide; the axis ends just above the highest interval (not at 1)."""
    sns.set_theme(style="whitegrid", font_scale=1.1)
    models = list(dict.fromkeys(table["model"]))
    metrics = list(dict.fromkeys(table["metric"]))
    colors = {**dict(zip(models, sns.color_palette(n_colors=len(models)))), **COLORS}
    figure, axes = plt.subplots(figsize=(10, 5.5))  # with the legend beside it, about 1,200 px at 120 dpi
    width = 0.8 / len(models)
    for offset, model in enumerate(models):
        rows = table[table["model"] == model].set_index("metric").loc[metrics]
        x = np.arange(len(metrics)) + (offset - (len(models) - 1) / 2) * width
        errors = [rows["score"] - rows["low"], rows["high"] - rows["score"]]
        axes.bar(x, rows["score"], width * 0.95, yerr=errors, capsize=4, color=colors[model], label=model)
        for xi, score, high in zip(x, rows["score"], rows["high"]):
            axes.annotate(f"{score:.3f}", (xi, high), xytext=(0, 3), textcoords="offset points", ha="center",
                          va="bottom", fontsize=9)
    top = float(table["high"].max()) if len(table) else 1.0
    axes.set_ylim(0, max(top * 1.15, 0.01))
    axes.set_xticks(np.arange(len(metrics)), metrics)
    axes.set(xlabel="ROUGE variant", ylabel="F-measure (95% bootstrap interval)")
    axes.set_title("ROUGE on DialogSum by model" + (f"\n{subtitle}" if subtitle else ""))
    axes.legend(title="model", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never on them
    save(figure, path)


def loss_curves(curves: pd.DataFrame, path) -> None:
    """Training and validation loss of every trained model against the optimizer step, side by side."""
    sns.set_theme(style="whitegrid", font_scale=1.1)
    figure, panels = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    for axes, split, title in zip(panels, ("train", "eval"), ("Training loss", "Validation loss")):
        part = curves[curves["split"] == split]
        if part.empty:
            axes.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes)
        else:
            sns.lineplot(data=part, x="step", y="loss", hue="model", hue_order=["full", "lora"], marker="o",
                         palette=COLORS, ax=axes)
        axes.set(xlabel="optimizer step", ylabel="loss", title=title)
    figure.suptitle("Loss: full fine-tuning vs LoRA")
    save(figure, path)


def length_distribution(lengths: pd.DataFrame, path) -> None:
    """Words per summary of each model against the human references (each as its own density)."""
    sns.set_theme(style="whitegrid", font_scale=1.1)
    figure, axes = plt.subplots(figsize=(10, 4.5))
    sources = list(dict.fromkeys(lengths["source"]))
    palette = {**dict(zip(sources, sns.color_palette(n_colors=len(sources)))), **COLORS}
    sns.histplot(data=lengths, x="words", hue="source", stat="probability", common_norm=False, element="step",
                 fill=False, binwidth=2, linewidth=2, palette={s: palette[s] for s in sources}, ax=axes)
    axes.set(xlabel="words per summary", ylabel="share of summaries (2-word bins)",
             title="Summary length by model vs references")
    save(figure, path)

