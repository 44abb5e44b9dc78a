"""Seaborn charts of results people compare; the data behind each goes beside it for `dvc plots`."""
import matplotlib

matplotlib.use("Agg")  # no display on training servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .files import atomic_path  # noqa: E402


def save(figure, path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def rouge_bars(table: pd.DataFrame, path) -> None:
    """Grouped bars: one group per ROUGE variant, one bar per model."""
    sns.set_theme(style="whitegrid")
    figure, axes = plt.subplots(figsize=(8, 4.5))
    sns.barplot(data=table, x="metric", y="score", hue="model", ax=axes)
    for container in axes.containers:
        axes.bar_label(container, fmt="%.3f", fontsize=7, padding=2)
    axes.set(xlabel="", ylabel="F-measure", title="ROUGE on DialogSum by model", ylim=(0, 1))
    save(figure, path)
