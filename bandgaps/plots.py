"""The site's figure style and the figures shared by several pages; matplotlib only.

``use_page_style()`` is the one page style: every page calls it first. A full-width figure is
``PAGE_WIDTH`` inches at 110 dpi, which the site shows in its output column (584 px at a
1280 px window) at about 70 % of its size, so 10 pt tick labels stay above 10 px on screen (the
browser test measures this for every figure).
"""

from __future__ import annotations

import numpy as np

COLORS = {"metal": "#d95f02", "non-metal": "#3b6fb6", "accent": "#7570b3", "exp": "k"}

#: Width (inches) of a full-width figure: the content column of the site.
PAGE_WIDTH = 7.5

PAGE_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.figsize": (PAGE_WIDTH, 3.8),
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def use_page_style() -> None:
    """Apply the site's figure style (sizes, fonts, spines) to matplotlib and pandas tables."""
    import matplotlib.pyplot as plt

    plt.rcParams.update(PAGE_STYLE)


def parity(ax, y, pred, *, groups=None, label: str = "eV", title: str | None = None, s=6):
    """Predicted against true values with the diagonal.

    Args:
        ax: the matplotlib axes.
        y: true values.
        pred: predictions.
        groups: a label per point (metals/non-metals get their colours).
        label: the axes' unit.
        title: the panel's title.
        s: marker size.
    """
    y = np.asarray(y, float)
    pred = np.asarray(pred, float)
    hi = float(max(y.max(), pred.max())) * 1.03 if len(y) else 1.0
    # a margin below zero keeps the column of metals (true gap 0) visible off the axis
    lo = float(min(0.0, y.min(), pred.min())) - 0.03 * hi if len(y) else 0.0
    if groups is None:
        ax.scatter(y, pred, s=s, alpha=0.35, lw=0, color=COLORS["non-metal"])
    else:
        groups = np.asarray(groups)
        # the larger group first, so the smaller one is drawn on top and stays visible
        names = sorted(dict.fromkeys(groups), key=lambda g: -(groups == g).sum())
        for name in names:
            m = groups == name
            ax.scatter(
                y[m],
                pred[m],
                s=s,
                alpha=0.35,
                lw=0,
                color=COLORS.get(name),
                label=f"{name} ({m.sum():,})",
            )
        ax.legend(loc="upper left", frameon=False, markerscale=2)
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"true ({label})")
    ax.set_ylabel(f"predicted ({label})")
    if title:
        ax.set_title(title)
    return ax


def calibration(ax, curves: dict, title: str | None = None):
    """Observed against expected coverage of Gaussian intervals, one line per model.

    Args:
        ax: the matplotlib axes.
        curves: ``{model: frame}``, each frame with ``expected`` and ``observed`` coverage.
        title: the panel's title.
    """
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    for name, curve in curves.items():
        ax.plot(curve["expected"], curve["observed"], marker="o", ms=3, label=name)
    ax.set_xlabel("expected coverage of mean ± z·σ")
    ax.set_ylabel("observed coverage on test")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    if title:
        ax.set_title(title)
    return ax


def leaderboard(
    ax, published, ours: dict, *, xlabel: str, lower_is_better: bool = True, start: float = 0.0
):
    """Per-fold scores (dots) and five-fold means (bars) of published entries and ours.

    Entries are sorted best first from the top; ours are coloured. The x axis runs from
    ``start`` to past the largest score, with room for the printed means.

    Args:
        ax: the matplotlib axes.
        published: a frame of ``model``, ``fold``, ``value``.
        ours: ``{entry label: per-fold values}``.
        xlabel: the score's name.
        lower_is_better: sort ascending (MAE) or descending (accuracy).
        start: where the x axis starts.
    """
    rows = [(m, g["value"].to_numpy(), False) for m, g in published.groupby("model")]
    rows += [(label, np.asarray(v, float), True) for label, v in ours.items()]
    rows.sort(key=lambda r: r[1].mean(), reverse=not lower_is_better)
    for i, (_label, values, mine) in enumerate(rows):
        color = COLORS["non-metal"] if mine else "0.6"
        ax.barh(i, values.mean() - start, left=start, color=color, alpha=0.35, height=0.7)
        ax.plot(values, np.full(len(values), i), "o", ms=3.5, color=color)
        top = max(v.max() for _, v, _ in rows)
        ax.text(
            max(values.max(), values.mean()),
            i,
            f" {values.mean():.3f}",
            va="center",
            fontsize=10,
            clip_on=True,
        )
    ax.set_xlim(start, top + 0.22 * (top - start))
    ax.set_yticks(range(len(rows)), [r[0] + (" (this study)" if r[2] else "") for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return ax
