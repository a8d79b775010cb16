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
# The published benchmark: 106,113 MP PBE gaps, composition only, five folds. We use fold 0
# of the CrabNet split pinned in `../shared`: fit on `train0`, make every choice on `val0`,
# and score `test0` once. Three candidates compete on `val0`: the forest on Magpie features
# and LightGBM on Magpie features, with and without element fractions.
# LightGBM averages two squared-error boosters with different seeds; its σ is half the
# distance between two quantile boosters at 15.9 % and 84.1 %, the range a Gaussian's ±1σ
# spans.

# %% tags=["hide-input"]
mb = C.matbench_protocol()
display(
    mb.validation.rename(columns={"val R2": "val R²"})
    .style.format(
        {"val MAE": "{:.3f}", "val RMSE": "{:.3f}", "val R²": "{:.3f}", "fit (s)": "{:.0f}"}
    )
    .hide(axis="index")
)
md(
    f"Chosen on `val0`: **{mb.chosen}**. Train/val/test sizes: "
    + ", ".join(f"{k} {v:,}" for k, v in mb.sizes.items())
    + "."
)

# %% tags=["hide-input"]
table = mb.test[["model", "MAE", "RMSE", "R2"]].copy()
table["source"] = "this study, fold 0 test"
published = C.matbench_published()
for name, value in published.items():
    table.loc[len(table)] = [name, value, np.nan, np.nan, "published, 5-fold mean"]
display(
    table.rename(columns={"R2": "R²"})
    .style.format({"MAE": "{:.3f}", "RMSE": "{:.3f}", "R²": "{:.3f}"}, na_rep="")
    .hide(axis="index")
)

# %% tags=["hide-input"]
rf_label = mb.baseline
best = mb.test.set_index("model").loc[mb.chosen]
rf = mb.test.set_index("model").loc[rf_label]
finder = published["Finder (composition)"]
crab = published["CrabNet"]
verdict = "below" if best["MAE"] < min(finder, crab) else "above"
md(
    f"On `test0` the forest reaches **{rf['MAE']:.3f} eV** (the published forest, RF-SCM/Magpie, "
    f"which also reads the structure: {published['RF (Magpie)']:.3f} eV over five folds) and "
    f"{mb.chosen} **{best['MAE']:.3f} eV**, {verdict} Finder ({finder:.3f}) and CrabNet "
    f"({crab:.3f}). One fold is not five: the published figures average five test folds. The "
    "[Benchmarks](benchmarks.html) page scores the whole task on the published folds."
)

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(plots.PAGE_WIDTH, 4.6))
for ax, label in zip(axes, [rf_label, mb.chosen], strict=True):
    t = mb.results[label].frame("test")
    grp = np.where(t["target"] > 0, "non-metal", "metal")
    plots.parity(ax, t["target"], t["mean"], groups=grp, title=f"{label}: test0", s=3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How trustworthy is σ?
#
# A σ is useful only if errors of about that size are what one sees. For a Gaussian, 68.3 % of
# the test points should fall within ±1σ and 95.4 % within ±2σ. The calibration plot checks
# every level at once: points below the diagonal mean σ is too small (over-confident).

# %% tags=["hide-input"]
cal, curves = C.sigma_calibration(ref, mb)
display(cal.style.format({"±1σ": "{:.1%}", "±2σ": "{:.1%}"}).hide(axis="index"))
fig, ax = plt.subplots(figsize=(5, 5))
plots.calibration(ax, curves)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
c = cal.set_index(["model", "set"])


lines = []
for (model, where), r in c.iterrows():
    lines.append(
        f"- **{model}** ({where}): {r['±1σ']:.0%} within ±1σ, {r['±2σ']:.0%} within ±2σ — "
        f"at 1σ {C.sigma_verdict(r['±1σ'], 1)}, at 2σ {C.sigma_verdict(r['±2σ'], 2)}."
    )
md(
    "\n".join(lines)
    + "\n\nThe forest's law-of-total-variance σ adds the spread of the training targets in "
    "each leaf to the disagreement between trees, and the mix of metals and insulators "
    "among similar compositions makes both large. The quantile σ of the boosted model is "
    "fitted to the conditional spread itself, which is why it tracks the ±1σ level more "
    "closely, but the error distribution has heavier tails than a Gaussian (metals "
    "predicted as insulators and the reverse), which a ±2σ reading underestimates. "
    "Either σ ranks predictions by how much to trust them; for a stated coverage use the "
    "conformal intervals below."
)


# %% [markdown]
# ## Conformal intervals with a guaranteed coverage
#
# Split conformal prediction calibrates intervals on `val0`, data the model never saw, so that
# a new point falls inside with at least the nominal probability whatever the model. The
# guarantee is marginal (on average over materials). The table shows each model's own
# intervals at the three levels it stores; the method each chose, and why, is the subject of
# the next section.

# %% tags=["hide-input"]
frames = []
for label in mb.test["model"]:
    t = C.interval_table(mb.results[label], "test")
    t.insert(0, "model", label)
    frames.append(t)
conf = pd.concat(frames, ignore_index=True).rename(columns={"mean width": "mean width (eV)"})
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
for label, grp in conf.groupby("model", sort=False):
    ax.plot(grp["nominal coverage"], grp["empirical coverage"], "o-", label=label)
ax.plot([0.6, 1], [0.6, 1], "k--", lw=0.8)
ax.set_xlabel("nominal coverage")
ax.set_ylabel("empirical coverage on test0")
ax.legend(frameon=False)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
by_level = conf.set_index(["model", "nominal coverage"])
row90 = by_level.loc[(mb.chosen, 0.9)]
row68 = by_level.loc[(mb.chosen, 0.68)]
md(
    f"At 90 % nominal coverage the {mb.chosen} interval covers "
    f"**{row90['empirical coverage']:.1%}** of `test0` with a mean width of "
    f"{row90['mean width (eV)']:.2f} eV. These are the model's own intervals, with the method "
    "it chose on `val0` (next section); a model file from `bandgaps train` carries the same. "
    "Each is the hull of the model's conformal set: where a metal is possible it reaches down "
    "to 0 eV, so it covers more than the set inside it "
    f"({row68['empirical coverage']:.1%} at 68 %, {row90['empirical coverage']:.1%} at 90 %). "
    "The sets themselves, scored in the next section, hold the nominal levels; "
    "`bandgaps predict` prints the hull and, per formula, whether 0 eV belongs to the set."
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
#   for the rest, with the threshold between them chosen on `val0`;
# - **+ label-conditional** (Mondrian on the label): metals and non-metals calibrated apart.
#   Because the group is a property of the answer, the prediction set reads "a metal (0 eV),
#   if the metal score is small enough, or a gap in [lower, upper]"; it promises the coverage
#   within metals and within non-metals separately. A model file prints the interval from
#   0 eV where a metal is possible, and says so in a column.
#
# Each model picks, in a two-fold cross-fit over `val0` without looking at `test0`, the method
# that covers 90 % within metals and within non-metals (to one point), and among those the
# lowest 90 % interval score (width plus 20 × the distance by which a target is missed). The
# tables below then score the constant and the chosen interval once on `test0`: coverage
# overall and within groups, mean width, and the rank correlation between an interval's
# width and the error it should anticipate.

# %% tags=["hide-input"]
studies = {label: U.interval_study(mb.results[label], label) for label in mb.test["model"]}
chosen = studies[mb.chosen]
rows = []
for label, st in studies.items():
    t = st.summary.copy()
    t.insert(0, "model", f"{label} ({st.method})")
    rows.append(t)
display(
    pd.concat(rows)
    .drop(columns="n")
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
axes[0].set_ylabel("coverage on test0 at 90 % (%)")
axes[0].set_title("coverage by group (shaded: 88–92 %)", fontsize=10)
axes[0].legend(frameon=False, fontsize=8, loc="upper center", ncol=2)
for name, color in [(U.OLD, "0.6"), (U.ADAPTIVE, plots.COLORS["non-metal"])]:
    b = U.width_error_bins(chosen.widths, name)
    axes[1].plot(b["width"], b["|error|"], "o-", color=color, label=name, ms=4)
axes[1].set_xlabel("mean 90 % interval width (eV), per tenth of test0")
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


metal_new, nonmetal_new = (gi.loc[(U.ADAPTIVE, g), "coverage"] for g in ("metals", "non-metals"))
metal_old, nonmetal_old = (gi.loc[(U.OLD, g), "coverage"] for g in ("metals", "non-metals"))
rho_new = s90.loc[(U.ADAPTIVE, 0.9), "width–error ρ"]
md(
    f"{mb.chosen} chose **{chosen.method}** on `val0`. On `test0` its 90 % interval covers "
    f"**{metal_new:.1%}** of the metals and **{nonmetal_new:.1%}** of the non-metals "
    f"({band(metal_new)} and {band(nonmetal_new)} the 88–92 % target), against "
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
# Every candidate, calibrated on `val0` and scored once on `test0` (the calibration score is
# the one the choice was made on; lower is better):

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
# The same calibration rows fit one number per model: the factor that makes ±σ cover 68.3 %
# of `val0`. A model file applies it to the σ that `bandgaps predict` prints. Before and after,
# on `test0`:

# %% tags=["hide-input"]
rows, curves = [], {}
for label, st in studies.items():
    t = st.sigma.copy()
    t.insert(0, "model", label)
    rows.append(t)
    frame = mb.results[label].frame("test")
    for name, scale in (("raw", 1.0), ("recalibrated", st.sigma_scale)):
        curves[f"{label}, {name}"] = C.calibration_curve(
            frame["target"], frame["mean"], frame["std"] * scale
        )
sig = pd.concat(rows, ignore_index=True)
display(sig.style.format({"scale": "{:.2f}", "±1σ": "{:.1%}", "±2σ": "{:.1%}"}).hide(axis="index"))
fig, ax = plt.subplots(figsize=(5, 5))
plots.calibration(ax, {k: v for k, v in curves.items() if k.startswith(rf_label)})
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
rf_sig = sig[sig["model"] == rf_label].set_index("σ")
verdict_rf = "within" if 0.66 <= rf_sig.loc["recalibrated σ", "±1σ"] <= 0.70 else "outside"
md(
    f"The forest's σ covers {rf_sig.loc['raw σ', '±1σ']:.1%} of `test0` within ±1σ; scaled by "
    f"{rf_sig.loc['recalibrated σ', 'scale']:.2f} (fitted on `val0`) it covers "
    f"**{rf_sig.loc['recalibrated σ', '±1σ']:.1%}**, {verdict_rf} the 66–70 % target. "
    f"At ±2σ the recalibrated forest covers {rf_sig.loc['recalibrated σ', '±2σ']:.1%} "
    "instead of a Gaussian's 95.4 %: the errors have heavier tails than a Gaussian, so for "
    "wide coverage use the conformal intervals, not multiples of σ."
)

# %% [markdown]
# ## Families the model never saw
#
# A random test fold shares its chemistry with the training rows. To see what happens when
# it does not, the `train0`, `val0` and `test0` formulas are clustered into five chemical
# families (k-means on standardized Magpie features, fitted on `train0`), and each family in
# turn is held out: the chosen model is trained on `train0` without it, its intervals and
# domain calibrated on `val0` without it, and it is scored on the family's `test0` rows. The
# same fit also predicts the other families' `test0` rows ("MAE, other families"), so each
# unseen family has a seen-chemistry MAE beside it. To keep the build short these five fits
# use a seeded draw of `train0` rows (the count is printed below), so their MAEs sit above
# the full-data model's.

# %% tags=["hide-input"]
kind, fs, params = C.matbench_candidate(mb.chosen)
lco = U.leave_cluster_out(kind, fs, params)
md(
    f"{lco.train_drawn:,} of {lco.train_available:,} `train0` rows drawn for these fits; "
    "each fit leaves out the drawn rows of its family."
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
pooled = lco.pooled.set_index("method")
cl = lco.clusters
insulating = cl[cl["metals"] < 0.5]
metallic = cl[cl["metals"] >= 0.5]
cov_new = pooled.loc[U.ADAPTIVE, "coverage"]
new_col, old_col = f"coverage, {U.ADAPTIVE}", f"coverage, {U.OLD}"


def span(frame, col):
    return f"{frame[col].min():.0%}–{frame[col].max():.0%}"


md(
    f"Over all held-out families the adaptive 90 % interval covers **{cov_new:.1%}** "
    f"(target ≥ 85 %: {'met' if cov_new >= 0.85 else 'missed'}), the constant one "
    f"{pooled.loc[U.OLD, 'coverage']:.1%}. Both fall short of 90 % because the calibration "
    "rows come from the families the model was trained on: a held-out family's errors are "
    "larger than anything calibrated for, and no calibration on other chemistry can know by "
    "how much. The shortfall has two faces. In the mostly insulating families "
    f"({', '.join(str(c) for c in insulating['cluster'])}; MAE "
    f"{insulating['MAE'].min():.2f}–{insulating['MAE'].max():.2f} eV held out against "
    f"{insulating['MAE, other families'].min():.2f}–"
    f"{insulating['MAE, other families'].max():.2f} eV on the families the same fits saw) both "
    f"intervals are too narrow ({span(insulating, new_col)} adaptive, "
    f"{span(insulating, old_col)} constant); the adaptive one covers more in "
    f"{int((insulating[new_col] > insulating[old_col]).sum())} of these {len(insulating)} "
    "families, where its σ grows with the model's own doubt. In the metallic families "
    f"({', '.join(str(c) for c in metallic['cluster'])}) the constant interval covers "
    f"{span(metallic, old_col)}, only because its width, sized for insulators, contains 0 eV "
    f"for almost every metal, while the adaptive set, which keeps 0 eV only for formulas "
    f"that look metallic enough, covers {span(metallic, new_col)}: metals of an unseen "
    "family get small predicted gaps with more confidence than they deserve. The domain flag "
    "catches few of these formulas (last column of the table): σ measures the model's doubt, "
    "not its ignorance of a family."
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
res = mb.results[mb.chosen]
dom = U.domain_scores({"test0 (random fold)": res.frame("test")})
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
corr = res.domain_correlations
md(
    f"On `val0` the σ score ranked errors with ρ = {corr['σ']:.2f} and the distance with "
    f"ρ = {corr['distance']:.2f}, so {mb.chosen} uses **{res.domain_score}**. The distance "
    "ranks errors the wrong way round within this benchmark: formulas far from their "
    "neighbours are often simple, ordered insulators whose gaps the model gets right, while "
    "the crowded middle of feature space holds the intermetallics whose metal-or-not it "
    "confuses. Flagged formulas have errors several times the in-domain MAE, in the random "
    "fold and in the held-out families alike. No `test0` formula holds an element missing "
    "from `train0`; that flag matters for user formulas (the tests check it)."
)
