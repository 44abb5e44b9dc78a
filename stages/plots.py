"""Seaborn charts of results people compare; the data behind each goes beside it for `dvc plots`."""
import matplotlib

matplotlib.use("Agg")  # no display on training servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .files import atomic_path  # noqa: E402


def save(figure, path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def rouge_bars(table: pd.DataFrame, path) -> None:
    """One panel per scoring mode; grouped bars per ROUGE variant, one per model, with the 95% interval."""
    sns.set_theme(style="whitegrid")
    modes = list(dict.fromkeys(table["mode"]))
    models = list(dict.fromkeys(table["model"]))
    colors = dict(zip(models, sns.color_palette(n_colors=len(models))))
    figure, panels = plt.subplots(1, len(modes), figsize=(5 * len(modes), 4.5), sharey=True, squeeze=False)
    width = 0.8 / len(models)
    for axes, mode in zip(panels[0], modes):
        part = table[table["mode"] == mode]
        metrics = list(dict.fromkeys(part["metric"]))
        for offset, model in enumerate(models):
            rows = part[part["model"] == model].set_index("metric").loc[metrics]
            x = np.arange(len(metrics)) + (offset - (len(models) - 1) / 2) * width
            errors = [rows["score"] - rows["low"], rows["high"] - rows["score"]]
            bars = axes.bar(x, rows["score"], width, yerr=errors, capsize=3, color=colors[model], label=model)
            axes.bar_label(bars, fmt="%.3f", fontsize=6, padding=2, label_type="center", rotation=90)
        axes.set_xticks(np.arange(len(metrics)), metrics)
        axes.set(title=mode, ylim=(0, 1))
    panels[0][0].set_ylabel("F-measure (95% bootstrap interval)")
    handles, labels = panels[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, title="model", loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.suptitle("ROUGE on DialogSum by model and scoring mode")
    save(figure, path)


def loss_curves(curves: pd.DataFrame, path) -> None:
    """Training and validation loss of every trained model against the optimizer step, on one chart."""
    sns.set_theme(style="whitegrid")
    figure, axes = plt.subplots(figsize=(8, 4.5))
    if curves.empty:
        axes.text(0.5, 0.5, "no loss curves logged", ha="center", va="center", transform=axes.transAxes)
    else:
        sns.lineplot(data=curves, x="step", y="loss", hue="model", style="split", markers=True, dashes=True,
                     ax=axes)
    axes.set(xlabel="optimizer step", ylabel="loss", title="Training and validation loss: full vs LoRA")
    save(figure, path)


def length_distribution(lengths: pd.DataFrame, path) -> None:
    """Words per summary of each model against the human references (each as its own density)."""
    sns.set_theme(style="whitegrid")
    figure, axes = plt.subplots(figsize=(8, 4.5))
    sns.histplot(data=lengths, x="words", hue="source", stat="probability", common_norm=False, element="step",
                 fill=False, binwidth=2, ax=axes)
    axes.set(xlabel="words per summary", ylabel="share of summaries (2-word bins)",
             title="Summary length by model vs references")
    save(figure, path)


def sweep(table: pd.DataFrame, path) -> None:
    """ROUGE (with intervals) and trainable parameters against LoRA rank."""
    sns.set_theme(style="whitegrid")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for metric, part in table.groupby("metric", sort=False):
        part = part.sort_values("rank")
        errors = None
        if part["low"].notna().all() and part["high"].notna().all():
            errors = [part["score"] - part["low"], part["high"] - part["score"]]
        left.errorbar(part["rank"], part["score"], yerr=errors, marker="o", capsize=3, label=metric)
    left.set_xscale("log", base=2)
    left.set(xlabel="LoRA rank r", ylabel="F-measure", title="ROUGE vs LoRA rank")
    left.legend()
    params = table.drop_duplicates("rank").sort_values("rank")
    right.plot(params["rank"], params["trainable_params"], marker="o")
    right.set_xscale("log", base=2)
    right.set(xlabel="LoRA rank r", ylabel="trainable parameters", title="Trainable parameters vs LoRA rank")
    for axes in (left, right):
        axes.set_xticks(params["rank"], [str(r) for r in params["rank"]])
    save(figure, path)
