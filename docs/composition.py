# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Composition models
#
# A composition model sees only the chemical formula. That is all a researcher has before a
# structure is known, and it is what the original brief asks for: train on compounds, predict
# Si, Ge and the alloys between them. This page builds the features, the random forest with a
# per-prediction uncertainty, a stronger gradient-boosted model, and scores them under two
# protocols: the reference solution's own, and the published matbench benchmark.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from bandgaps import plots
from bandgaps.analyses import composition as C
from bandgaps.analyses import uncertainty as U
from bandgaps.analyses.mp_gap import MP_GAP_MODEL, mp_gap_study
from bandgaps.features.composition import CompositionFeatures, get_feature_set

plots.use_page_style()


def md(text: str) -> None:
    display(Markdown(text))


# %% [markdown]
# ## Features
#
# Each formula becomes a fixed-length vector of composition-weighted statistics of elemental
# properties (Ward *et al.*, npj Comput. Mater. 2, 16028 (2016)), with the featurizers and
# settings the reference solution used. `bandgaps` reads matminer's element tables once and
# evaluates the same statistics for all formulas with numpy; a test checks every column against
# matminer's own featurizers. The stronger model adds the atomic fraction of each element, so
# that compositions whose averaged properties coincide can still be told apart.

# %% tags=["hide-input"]
rows = []
for name in ["magpie", "magpie+fractions"]:
    fs = get_feature_set(name)
    feats = CompositionFeatures(name)
    for featurizer in fs.featurizers():
        rows.append(
            {
                "feature set": name,
                "matminer featurizer": type(featurizer).__name__,
                "columns": len(featurizer.feature_labels()),
            }
        )
    rows.append(
        {
            "feature set": name,
            "matminer featurizer": "total",
            "columns": len(feats.feature_labels()),
        }
    )
display(pd.DataFrame(rows).set_index(["feature set", "matminer featurizer"]))

# %% [markdown]
# ## A random forest with an uncertainty per prediction
#
# `UncertainForestRegressor` wraps scikit-learn's `RandomForestRegressor` (squared-error
# criterion). Each tree routes a formula to one leaf, which holds the bootstrap sample of
# training targets that fell there; the forest's prediction is the mixture of those leaves.
# By the law of total variance its variance is the mean of the leaf variances plus the variance
# of the leaf means across trees, which is the σ the reference solution reported.
#
# ## Protocol 1: the reference solution's
#
# The cleaned MP band-structure table (one lowest-energy polymorph per formula, no isolated
# atoms; see [Data](data.html)), split 80:20 stratified by metal / non-metal with a fixed seed.
# One forest is trained on all training rows, one on the non-metal rows only, and each is
# scored on all test rows and on the non-metal test rows.

# %% tags=["hide-input"]
ref = C.reference_protocol()
metrics = ref.metrics.copy()
published = C.REFERENCE_FIGURES
pub_all = published["reference solution, RF + Magpie, all-data model (75,067 MP entries)"]
pub_nm = published["reference solution, RF + Magpie, non-metal model"]
metrics["reference solution"] = [
    f"MAE {pub_all['MAE']}, RMSE {pub_all['RMSE']}, R² {pub_all['R2']}"
    if (t, s) == ("all", "all")
    else (f"MAE {pub_nm['MAE']}" if (t, s) == ("non-metal", "non-metal") else "")
    for t, s in zip(metrics["trained on"], metrics["scored on"], strict=True)
]
display(
    metrics.rename(columns={"R2": "R²"})
    .style.format({"MAE": "{:.3f}", "RMSE": "{:.3f}", "R²": "{:.3f}"})
    .hide(axis="index")
)

# %% tags=["hide-input"]
m = ref.metrics.set_index(["trained on", "scored on"])
n_train, n_test = len(ref.train), len(ref.test)
share = (ref.test["band_gap"] == 0).mean()
md(
    f"The forest trained on all {n_train:,} training formulas reaches an MAE of "
    f"**{m.loc[('all', 'all'), 'MAE']:.3f} eV** on the {n_test:,} test formulas, against the "
    f"reference solution's {pub_all['MAE']} eV; the non-metal forest scores "
    f"**{m.loc[('non-metal', 'non-metal'), 'MAE']:.3f} eV** on the non-metal test rows "
    f"(reference: {pub_nm['MAE']} eV).\n\n"
    f"The numbers are not comparable one to one. The reference solution queried all 75,067 "
    f"band-structure materials; the pinned snapshot here is its 5,909-row **binary** subset, "
    f"of which {share:.0%} of the test formulas are metals. A model that predicts "
    f"zero for most intermetallics is right most of the time, which makes the all-rows MAE "
    f"small; on the non-metals alone the same forest scores "
    f"{m.loc[('all', 'non-metal'), 'MAE']:.3f} eV, and the non-metal forest, with only "
    f"{ref.results['non-metal'].n_train:,} training rows, "
    f"{m.loc[('non-metal', 'non-metal'), 'MAE']:.3f} eV."
)

# %% tags=["hide-input"]
test = ref.results["all"].frame("test")
nm = ref.results["non-metal"].frame("test")
is_nm = (test["target"] > 0).to_numpy()
groups = np.where(is_nm, "non-metal", "metal")
fig, axes = plt.subplots(1, 2, figsize=(plots.PAGE_WIDTH, 4.6))
plots.parity(
    axes[0], test["target"], test["mean"], groups=groups, title="forest trained on all rows"
)
plots.parity(
    axes[1],
    nm["target"][is_nm],
    nm["mean"][is_nm],
    title="forest trained on non-metals, non-metal test rows",
)
fig.tight_layout()
plt.show()

# %% [markdown]
# Metals (grey) sit on the left edge: any formula the forest is unsure about gets a small
# positive gap, the average of metallic and insulating neighbours. This is the main error of a
# regression-only model on this target, and the reason the non-metal forest exists: it is the
# model to use once a material is known to have a gap.
#
# ## Protocol 2: matbench mp_gap
#
# The published benchmark: 106,113 MP PBE gaps, composition only, scored on Matbench's five
# official folds. One model, fixed before any fold was seen, serves both this page and the
# [Benchmarks](benchmarks.html) page: LightGBM with a Huber loss on Magpie features plus element
# fractions, its number of trees set by early stopping. Inside each fold's training rows a
# seeded tenth of the distinct formulas (with all their polymorphs) is held back as
# **calibration rows**; everything below that needs held-out errors (σ scale, conformal
# intervals, the interval method, the domain score) is fitted there, and each fold's test rows
# are scored once. σ is half the distance between two smaller quantile boosters at 15.9 % and
# 84.1 %, the range a Gaussian's ±1σ spans.

# %% tags=["hide-input"]
study = mp_gap_study()
folds = study.summary()
display(
    folds.rename(columns={"R2": "R²"})
    .style.format({"MAE": "{:.4f}", "RMSE": "{:.3f}", "R²": "{:.3f}", "σ scale": "{:.2f}"})
    .hide(axis="index")
)
comparison = C.matbench_comparison(study)
display(
    comparison.style.format({"MAE (5-fold mean)": "{:.4f}", "spread over folds": "{:.4f}"}).hide(
        axis="index"
    )
)

# %% tags=["hide-input"]
published = C.matbench_published()
ours = study.run.mean()
better = [name for name, value in published.items() if ours < value]
ahead = [f"{name} ({value:.4f} eV)" for name, value in published.items() if ours >= value]
md(
    f"Over the five official folds the model reaches **{ours:.4f} eV** "
    f"(folds {folds['MAE'].min():.4f}–{folds['MAE'].max():.4f} eV), trained on "
    f"{folds['train rows'].min():,}–{folds['train rows'].max():,} rows per fold with "
    f"{folds['calibration rows'].min():,}–{folds['calibration rows'].max():,} calibration rows "
    "held back. "
    + (f"That is below {' and '.join(better)}" if better else "That is below no entry shown")
    + (f"; {' and '.join(ahead)} {'stays' if len(ahead) == 1 else 'stay'} ahead" if ahead else "")
    + " among the published composition entries (RF-SCM/Magpie also reads the structure). The "
    "Benchmarks page sets the same run beside every published entry, fold by fold."
)

# %% tags=["hide-input"]
pooled = study.pooled("test")
fig, ax = plt.subplots(figsize=(5.2, 4.6))
grp = np.where(pooled["target"] > 0, "non-metal", "metal")
plots.parity(
    ax, pooled["target"], pooled["mean"], groups=grp, title=f"{study.label}: 5 test folds", s=1
)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How trustworthy is σ?
#
# A σ is useful only if errors of about that size are what one sees. For a Gaussian, 68.3 % of
# the test points should fall within ±1σ and 95.4 % within ±2σ. The calibration plot checks
# every level at once: points below the diagonal mean σ is too small (over-confident).

# %% tags=["hide-input"]
cal, curves = C.sigma_calibration(ref, study)
display(cal.style.format({"±1σ": "{:.1%}", "±2σ": "{:.1%}"}).hide(axis="index"))
fig, ax = plt.subplots(figsize=(5, 5))
plots.calibration(ax, curves)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
lines = []
for _, r in cal.iterrows():
    lines.append(
        f"- **{r['model']}** ({r['set']}): {r['±1σ']:.0%} within ±1σ, {r['±2σ']:.0%} within "
        f"±2σ — at 1σ {C.sigma_verdict(r['±1σ'], 1)}, at 2σ {C.sigma_verdict(r['±2σ'], 2)}."
    )
md(
    "\n".join(lines)
    + "\n\nThe forest's law-of-total-variance σ adds the spread of the training targets in "
    "each leaf to the disagreement between trees, and the mix of metals and insulators "
    "among similar compositions makes both large. The quantile σ of the boosted model is "
    "fitted to the conditional spread itself, but the error distribution has heavier tails "
    "than a Gaussian (metals predicted as insulators and the reverse), which a ±2σ reading "
    "underestimates. Either σ ranks predictions by how much to trust them; for a stated "
    "coverage use the conformal intervals below."
)


# %% [markdown]
# ## Conformal intervals with a guaranteed coverage
#
# Split conformal prediction calibrates intervals on each fold's calibration rows, data the
# model never saw, so that a new point falls inside with at least the nominal probability
# whatever the model. The guarantee is marginal (on average over materials). The table pools
# the five test folds, each scored with its own fold's intervals at the three levels a model
# stores; the method each fold chose, and why, is the subject of the next section.

# %% tags=["hide-input"]
conf = C.pooled_interval_table(study).rename(columns={"mean width": "mean width (eV)"})
display(
    conf.style.format(
        {
            "nominal coverage": "{:.0%}",
            "empirical coverage": "{:.1%}",
            "mean width (eV)": "{:.2f}",
        }
    ).hide(axis="index")
)
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(conf["nominal coverage"], conf["empirical coverage"], "o-", label=study.label)
ax.plot([0.6, 1], [0.6, 1], "k--", lw=0.8)
ax.set_xlabel("nominal coverage")
ax.set_ylabel("empirical coverage, 5 test folds")
ax.legend(frameon=False)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
by_level = conf.set_index("nominal coverage")
row90, row68 = by_level.loc[0.9], by_level.loc[0.68]
md(
    f"At 90 % nominal coverage the interval covers **{row90['empirical coverage']:.1%}** of "
    f"the test rows with a mean width of {row90['mean width (eV)']:.2f} eV. These are the "
    "model's own intervals, with the method each fold chose on its calibration rows (next "
    "section); a model file from `bandgaps train` carries the same. Each is the hull of the "
    "model's conformal set: where a metal is possible it reaches down to 0 eV, so it covers "
    f"more than the set inside it ({row68['empirical coverage']:.1%} at 68 %, "
    f"{row90['empirical coverage']:.1%} at 90 %). The sets themselves, scored in the next "
    "section, hold the nominal levels; `bandgaps predict` prints the hull and, per formula, "
    "whether 0 eV belongs to the set."
)

# %% [markdown]
# ## Intervals that adapt to each material
#
# A constant half-width is honest on average and says nothing about one material: NaCl and a
# six-element intermetallic get the same ± value. `bandgaps` therefore scores held-out errors
# in units of a per-material scale and calibrates that instead (`bandgaps.models.intervals`):
#
# - **absolute**: scale 1, the constant interval above;
# - **normalized**: the model's own σ (σ-scaled conformal scores);
# - **quantile**: the model's quantile band, below and above the prediction separately (a
#   conformalized quantile regression, asymmetric where the band is);
# - **+ predicted groups** (Mondrian): one calibration for formulas predicted metallic and one
#   for the rest, with the threshold between them chosen on the calibration rows;
# - **+ label-conditional** (Mondrian on the label): metals and non-metals calibrated apart.
#   Because the group is a property of the answer, the prediction set reads "a metal (0 eV),
#   if the metal score is small enough, or a gap in [lower, upper]"; it promises the coverage
#   within metals and within non-metals separately. A model file prints the interval from
#   0 eV where a metal is possible, and says so in a column.
#
# Each fold's model picks, in a two-fold cross-fit over its calibration rows without looking
# at its test rows, the method that covers 90 % within metals and within non-metals (to one
# point), and among those the lowest 90 % interval score (width plus 20 × the distance by
# which a target is missed). The tables below then score the constant and the chosen interval
# once on each fold's test rows, pooled: coverage overall and within groups, mean width, and
# the rank correlation between an interval's width and the error it should anticipate.

# %% tags=["hide-input"]
chosen = U.interval_study(study.fits, study.label)
display(
    chosen.summary.drop(columns="n")
    .rename(columns={"level": "nominal", "mean width": "mean width (eV)"})
    .style.format(
        {
            "nominal": "{:.0%}",
            "coverage": "{:.1%}",
            "mean width (eV)": "{:.2f}",
            "width–error ρ": "{:.2f}",
        }
    )
    .hide(axis="index")
)

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(plots.PAGE_WIDTH, 3.8))
g = chosen.groups
order = list(dict.fromkeys(g["group"]))
xs = np.arange(len(order))
for k, (name, color) in enumerate([(U.OLD, "0.6"), (U.ADAPTIVE, plots.COLORS["non-metal"])]):
    values = g[g["method"] == name].set_index("group").loc[order, "coverage"] * 100
    axes[0].bar(xs + (k - 0.5) * 0.38, values, width=0.38, color=color, label=name)
axes[0].axhspan(88, 92, color=plots.COLORS["accent"], alpha=0.15, lw=0)
axes[0].set_xticks(xs, [o.replace(" elements", " el.") for o in order], rotation=20)
axes[0].set_ylim(70, 104)
axes[0].set_ylabel("coverage at 90 %, 5 test folds (%)")
axes[0].set_title("coverage by group (shaded: 88–92 %)", fontsize=10)
axes[0].legend(frameon=False, fontsize=8, loc="upper center", ncol=2)
for name, color in [(U.OLD, "0.6"), (U.ADAPTIVE, plots.COLORS["non-metal"])]:
    b = U.width_error_bins(chosen.widths, name)
    axes[1].plot(b["width"], b["|error|"], "o-", color=color, label=name, ms=4)
axes[1].set_xlabel("mean 90 % interval width (eV), per tenth of the test rows")
axes[1].set_ylabel("mean |error| (eV)")
axes[1].set_title("wider where the errors are larger?")
axes[1].legend(frameon=False, fontsize=8)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
gi = chosen.groups.set_index(["method", "group"])
s90 = chosen.summary.set_index(["method", "level"])


def band(value: float) -> str:
    return "within" if 0.88 <= value <= 0.92 else "outside"


def both(a: str, b: str) -> str:
    return f"both {a}" if a == b else f"{a} and {b}"


metal_new, nonmetal_new = (gi.loc[(U.ADAPTIVE, g), "coverage"] for g in ("metals", "non-metals"))
metal_old, nonmetal_old = (gi.loc[(U.OLD, g), "coverage"] for g in ("metals", "non-metals"))
rho_new = s90.loc[(U.ADAPTIVE, 0.9), "width–error ρ"]
md(
    f"The folds chose **{chosen.method}** on their calibration rows. On the test rows the "
    f"90 % interval covers **{metal_new:.1%}** of the metals and **{nonmetal_new:.1%}** of the "
    f"non-metals ({both(band(metal_new), band(nonmetal_new))} the 88–92 % target), against "
    f"{metal_old:.1%} and {nonmetal_old:.1%} for the constant interval, which spends its "
    "width on metals it would cover anyway and runs short on insulators. Its width follows "
    f"the error: Spearman ρ = **{rho_new:.2f}** between width and absolute error (target "
    "≥ 0.4; a constant width has none), at a mean width of "
    f"{s90.loc[(U.ADAPTIVE, 0.9), 'mean width']:.2f} eV instead of "
    f"{s90.loc[(U.OLD, 0.9), 'mean width']:.2f} eV.\n\n"
    "Calibrating by *predicted* group is not enough for the true classes: insulators the "
    "model calls metallic sit in the metal group and pull its coverage of true insulators "
    "down (see the candidates below). Calibrating metals and non-metals apart holds each "
    "class at its level, at the price of some width: the set must keep 0 eV for materials "
    "that may be metals. Formulas with more elements get wider intervals, as their errors "
    "are larger."
)

# %% [markdown]
# Every candidate, calibrated on each fold's calibration rows and scored once on its test
# rows (the calibration score, averaged over the folds, is the one the choice was made on;
# lower is better; the last column counts the folds that chose it):

# %% tags=["hide-input"]
display(
    chosen.candidates.drop(columns="n")
    .rename(columns={"mean width": "mean width (eV)"})
    .style.format(
        {
            "calibration interval score": "{:.3f}",
            "coverage": "{:.1%}",
            "mean width (eV)": "{:.2f}",
            "width–error ρ": "{:.2f}",
            "metals": "{:.1%}",
            "non-metals": "{:.1%}",
        }
    )
    .hide(axis="index")
)

# %% [markdown]
# ## σ, recalibrated
#
# The same calibration rows fit one number per fold: the factor that makes ±σ cover 68.3 % of
# them. A model file applies it to the σ that `bandgaps predict` prints. Before and after, on
# the test rows (each fold with its own factor):

# %% tags=["hide-input"]
sig = chosen.sigma
display(sig.style.format({"scale": "{:.2f}", "±1σ": "{:.1%}", "±2σ": "{:.1%}"}).hide(axis="index"))
curves = {}
for name, scale in (("raw", [1.0] * len(study.fits)), ("recalibrated", chosen.folds["σ scale"])):
    frames = [
        res.frame("test").assign(std=res.frame("test")["std"] * k)
        for res, k in zip(study.fits, scale, strict=True)
    ]
    t = pd.concat(frames, ignore_index=True)
    curves[f"{study.label}, {name}"] = C.calibration_curve(t["target"], t["mean"], t["std"])
fig, ax = plt.subplots(figsize=(5, 5))
plots.calibration(ax, curves)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
s1 = sig.set_index("σ")
recal = s1.loc["recalibrated σ"]
verdict = "within" if 0.66 <= recal["±1σ"] <= 0.70 else "outside"
md(
    f"The raw σ covers {s1.loc['raw σ', '±1σ']:.1%} of the test rows within ±1σ; scaled by "
    f"{chosen.folds['σ scale'].min():.2f}–{chosen.folds['σ scale'].max():.2f} (one factor per "
    f"fold, fitted on its calibration rows) it covers **{recal['±1σ']:.1%}**, {verdict} the "
    f"66–70 % target. At ±2σ the recalibrated σ covers {recal['±2σ']:.1%} instead of a "
    "Gaussian's 95.4 %: the errors have heavier tails than a Gaussian, so for wide coverage "
    "use the conformal intervals, not multiples of σ."
)

# %% [markdown]
# ## Families the model never saw
#
# A random test fold shares its chemistry with the training rows. To see what happens when
# it does not, the rows of official fold 0 (training, calibration and test) are clustered into
# five chemical families (k-means on standardized Magpie features, fitted on the training
# rows), and each family in turn is held out: the model is trained on the fold's training rows
# without it, its intervals and domain calibrated on the calibration rows without it, and it
# is scored on the family's test rows. The same fit also predicts the other families' test
# rows ("MAE, other families"), so each unseen family has a seen-chemistry MAE beside it. To
# keep the build short these five fits use a seeded draw of training rows (the count is
# printed below), so their MAEs sit above the full-data model's.

# %% tags=["hide-input"]
kind, fs, params = MP_GAP_MODEL
lco = U.leave_cluster_out(kind, fs, params)
md(
    f"{lco.train_drawn:,} of {lco.train_available:,} training rows of fold 0 drawn for these "
    "fits; each fit leaves out the drawn rows of its family."
)
display(
    lco.clusters.style.format(
        {
            "metals": "{:.0%}",
            "MAE": "{:.3f}",
            "MAE, other families": "{:.3f}",
            "flagged outside domain": "{:.1%}",
            f"coverage, {U.OLD}": "{:.1%}",
            f"coverage, {U.ADAPTIVE}": "{:.1%}",
            "train rows": "{:,}",
            "held-out rows": "{:,}",
        }
    ).hide(axis="index")
)
fig, ax = plt.subplots(figsize=(6.5, 3.4))
xs = np.arange(len(lco.clusters))
for k, (name, color) in enumerate([(U.OLD, "0.6"), (U.ADAPTIVE, plots.COLORS["non-metal"])]):
    ax.bar(
        xs + (k - 0.5) * 0.38,
        lco.clusters[f"coverage, {name}"] * 100,
        width=0.38,
        color=color,
        label=name,
    )
ax.axhline(90, color="k", lw=0.8, ls="--")
ax.axhline(85, color=plots.COLORS["metal"], lw=0.8, ls=":", label="target ≥ 85 %")
ax.set_xticks(xs, [f"family {c}" for c in lco.clusters["cluster"]])
ax.set_ylim(40, 110)
ax.set_ylabel("coverage at 90 % (%)")
ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=3)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
pooled_lco = lco.pooled.set_index("method")
cl = lco.clusters
insulating = cl[cl["metals"] < 0.5]
metallic = cl[cl["metals"] >= 0.5]
cov_new = pooled_lco.loc[U.ADAPTIVE, "coverage"]
new_col, old_col = f"coverage, {U.ADAPTIVE}", f"coverage, {U.OLD}"


def span(frame, col, fmt="{:.0%}"):
    """The range of a column over some families, as one value when it does not vary."""
    if not len(frame):
        return "none"
    lo, hi = (fmt.format(v) for v in (frame[col].min(), frame[col].max()))
    return lo if lo == hi else f"{lo}–{hi}"


def clusters_text(frame) -> str:
    return ", ".join(str(c) for c in frame["cluster"]) or "none"


md(
    f"Over all held-out families the adaptive 90 % interval covers **{cov_new:.1%}** "
    f"(target ≥ 85 %: {'met' if cov_new >= 0.85 else 'missed'}), the constant one "
    f"{pooled_lco.loc[U.OLD, 'coverage']:.1%}. Both fall short of 90 % because the calibration "
    "rows come from the families the model was trained on: a held-out family's errors are "
    "larger than anything calibrated for, and no calibration on other chemistry can know by "
    "how much. In the mostly insulating families "
    f"({clusters_text(insulating)}; MAE {span(insulating, 'MAE', '{:.2f}')} eV held out "
    f"against {span(insulating, 'MAE, other families', '{:.2f}')} eV on the families the same "
    f"fits saw) the intervals cover {span(insulating, new_col)} adaptive and "
    f"{span(insulating, old_col)} constant; the adaptive one covers more in "
    f"{int((insulating[new_col] > insulating[old_col]).sum())} of these {len(insulating)} "
    "families, where its σ grows with the model's own doubt. In the metallic families "
    f"({clusters_text(metallic)}) the constant interval covers "
    f"{span(metallic, old_col)}, because its width, sized for insulators, contains 0 eV "
    f"for almost every metal, while the adaptive set, which keeps 0 eV only for formulas "
    f"that look metallic enough, covers {span(metallic, new_col)}: metals of an unseen "
    "family can get small predicted gaps with more confidence than they deserve. The domain "
    "flag catches few of these formulas (last column of the table): σ measures the model's "
    "doubt, not its ignorance of a family."
)

# %% [markdown]
# ## Domain of applicability
#
# Each prediction of a calibrated model carries a **domain score** and an **in-domain
# flag** (`bandgaps.models.domain`). Two candidate scores are measured on the calibration
# rows — the mean distance to the five nearest training formulas in standardized feature
# space, and the model's own σ — and the one whose rank correlation with the error is higher
# becomes the score, reported as a percentile of the calibration rows. A formula is flagged
# when it holds an element no training row had, or when its score is above the 99th
# percentile; `bandgaps predict` prints both and warns in one line.

# %% tags=["hide-input"]
dom = U.domain_scores({"5 test folds (random folds)": pooled})
dom = pd.concat([dom, lco.domain], ignore_index=True)
display(
    dom.style.format(
        {
            "n": "{:,}",
            "ρ distance": "{:.2f}",
            "ρ σ": "{:.2f}",
            "ρ unseen element": "{:.2f}",
            "flagged": "{:.1%}",
            "MAE in domain": "{:.3f}",
            "MAE flagged": "{:.3f}",
        },
        na_rep="–",
    ).hide(axis="index")
)
scores = pd.DataFrame(
    [{"score": r.domain_score, **r.domain_correlations} for r in study.fits]
).rename(columns={"σ": "ρ σ", "distance": "ρ distance"})
unseen = int((pooled["unseen elements"].astype(str).str.len() > 0).sum())
md(
    f"On the calibration rows the σ score ranked errors with ρ = {scores['ρ σ'].min():.2f}–"
    f"{scores['ρ σ'].max():.2f} and the distance with ρ = {scores['ρ distance'].min():.2f}–"
    f"{scores['ρ distance'].max():.2f} over the folds, so the folds use **"
    + ", ".join(f"{k}** ({n} of {len(scores)})" for k, n in scores["score"].value_counts().items())
    + ". The distance ranks errors the wrong way round within this benchmark: formulas far "
    "from their neighbours are often simple, ordered insulators whose gaps the model gets "
    "right, while the crowded middle of feature space holds the intermetallics whose "
    "metal-or-not it confuses. Flagged formulas have errors several times the in-domain MAE, "
    f"in the random folds and in the held-out families alike. {unseen:,} test formulas hold "
    "an element missing from their fold's training rows; that flag matters most for user "
    "formulas (the tests check it)."
)
