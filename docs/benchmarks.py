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
# # Benchmarks: measured gaps on the official Matbench protocol
#
# Every other composition model of this study learns **PBE** gaps, and PBE underestimates
# gaps: the question a materials scientist asks — *what gap will I measure?* — needs a model
# of **measured** gaps. This page builds one and scores it, and our PBE-gap model, the way the
# field's leaderboard does, so the numbers sit beside the published entries fold by fold.
#
# **The protocol.** Matbench v0.1 scores a task by five-fold cross-validation over its rows in
# Matbench's order: `KFold(5, shuffle=True, random_state=18012019)`, stratified for
# classification (`bandgaps.analyses.matbench`). Each fold's model sees only that fold's
# training rows; features, settings, the choice between candidates and early stopping are all
# decided there, and each test fold is scored once. The PBE side may use PBE data freely
# (another quantity, which the benchmark allows); rows of a task that shares compositions
# (`expt_is_metal` for `expt_gap`, and the reverse) enter a fold's training only when their
# composition is in none of that fold's test rows.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from bandgaps import plots
from bandgaps.analyses import expt_gap_cleaned as XC
from bandgaps.analyses import expt_is_metal_chosen as EC
from bandgaps.analyses import matbench as MB
from bandgaps.analyses import measured as Me
from bandgaps.analyses import measured_reports as MR
from bandgaps.analyses import mp_gap_gated as MG
from bandgaps.analyses import registry as R
from bandgaps.analyses import submission as S
from bandgaps.analyses import targets as T
from bandgaps.analyses.mp_gap import mp_gap_study
from bandgaps.config import cache_dir
from bandgaps.models import named
from bandgaps.models.domain import FLAG_PERCENTILE
from bandgaps.models.transfer import composition_key

plots.use_page_style()


def md(text: str) -> None:
    display(Markdown(text))


tasks = {name: MB.TASKS[name] for name in ("mp_gap", "expt_gap", "expt_is_metal")}
data = {name: t.load() for name, t in tasks.items()}

checks = MB.fold_rule_check(tasks, data)
md(
    "**The fold rule, checked.** For every published entry whose per-material predictions are "
    "stored, our folds hold exactly its test rows, and re-scoring its predictions on them "
    "gives the leaderboard's per-fold scores:"
)
display(
    checks.style.format({"largest difference from the leaderboard": "{:.1e}"}, na_rep="").hide(
        axis="index"
    )
)

# %% [markdown]
# ## mp_gap: PBE gaps from composition
#
# 106,113 PBE gaps of the Materials Project (87,262 distinct formulas: polymorphs repeat).
# The first model, fixed before any fold was seen: LightGBM with a Huber loss on Magpie features
# plus element fractions (263 columns), 255 leaves, learning rate 0.05. In each fold a tenth of
# the distinct training formulas is held back as calibration rows (the
# [composition page](composition.html) reads the same fits for its σ, intervals and domain
# flags), and the number of trees is set by early stopping on 10 % of the rest.
#
# **The submitted entry adds a metal gate** (`mp-gap-gated`, registered and made the
# submission before it was scored). 43 % of `mp_gap`'s rows are PBE metals at exactly 0 eV,
# and a regressor of every row spends its trees on the step between them and the rest. On the
# same rows as the first model, a LightGBM log-loss classifier (one booster, the same settings)
# learns which rows are metals and a Huber regressor learns the non-metals; a row the gate
# calls a metal gets 0 eV. On each fold's calibration rows the threshold (0.3 to 0.7) with the
# lowest MAE is taken, and the gate is kept only if it beats the ungated model there
# (`bandgaps.analyses.mp_gap_gated`). The test rows are predicted once, by the model chosen.

# %% tags=["hide-input"]
mp = mp_gap_study().run
gated = MG.run_mp_gap_gated()

fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 3.8))
plots.leaderboard(
    ax,
    MB.published_of(tasks["mp_gap"]),
    {gated.entry: gated.scores["mae"], mp.entry: mp.scores["mae"]},
    xlabel="mp_gap MAE (eV), five folds",
)
fig.tight_layout()
plt.show()
display(
    MB.leaderboard_table(tasks["mp_gap"], {gated.entry: gated, mp.entry: mp}).style.format("{:.4f}")
)
trees = [t for p in mp.parameters for t in p["trees"]]
md(
    f"Without the gate: **{mp.mean():.4f} eV** (folds "
    + " / ".join(f"{v:.4f}" for v in mp.scores["mae"])
    + f"); early stopping kept {min(trees)}–{max(trees)} trees; fitting took "
    f"{sum(mp.fit_seconds) / 60:.1f} min for the five folds on two cores. The structure-based "
    "entries (coGN, ALIGNN, MODNet) see more than a formula and are drawn for context."
)

# %% tags=["hide-input"]
choices = MG.gate_choices(gated)
display(
    choices.style.format(
        {
            "threshold": "{:.1f}",
            "calibration MAE, gated": "{:.4f}",
            "calibration MAE, ungated": "{:.4f}",
            "test MAE": "{:.4f}",
        }
    ).hide(axis="index")
)
finder = MB.leaderboard_means(tasks["mp_gap"]).set_index("model")["mean"]["Finder_v1.2_composition"]
md(
    f"Our five-fold mean with the gate: **{gated.mean():.4f} eV** "
    f"({gated.mean() - mp.mean():+.4f} eV against the ungated model; Finder, the best "
    f"published composition entry, {finder:.4f}). The calibration rows chose the gate in "
    f"{(choices['gate'] == 'yes').sum()} of 5 folds, at thresholds "
    + ", ".join(f"{t:.1f}" for t in choices["threshold"])
    + f"; the gate and the non-metal regressor took {sum(gated.fit_seconds) / 60:.1f} min "
    "for the five folds."
)

# %% [markdown]
# ## expt_gap: measured gaps, and what each piece adds
#
# 4,604 measured gaps (Zhuo et al. 2018); 53 % are exactly 0 eV (metals). Each row of the
# ablation adds one piece to the one above it; every row is a full five-fold run on the
# published folds:
#
# * **PBE reference** — two columns learned once from all of `mp_gap`: the predicted PBE gap
#   and the probability that PBE makes the composition a metal (`PBEReference`);
# * **metal gate** — a classifier sends metals to exactly 0 eV; the regressor learns only the
#   non-metals (`GatedGapModel`);
# * **`expt_is_metal` labels** — the gate also learns from the 4,921 measured metal/non-metal
#   labels, minus every composition in the fold's test rows;
# * **residual on PBE** — the regressor corrects the predicted PBE gap instead of predicting
#   the gap;
# * **MP gaps of the composition** — the PBE gaps MP lists for exactly this composition
#   (mean and lowest over its polymorphs, and how many; empty where MP has none).
#
# **The median of the gated variants** is the study's measured-gap model, and was the entry
# we submitted until the cleaned entry below replaced it: in each fold the four gated
# variants are fitted on the training rows and the median of their predictions is the
# answer. Choosing one variant per fold by an inner
# cross-validation was tried first: the variants differ by less than the noise of that
# choice, and it picked different variants on different subsets of the same data, so the
# median replaces the choice. Settings were written down before the folds were scored; the
# last two variants and the median were added after a first run of the others, and each row
# is still a single scoring of the test folds — no setting was changed to move a score.

# %% tags=["hide-input"]
entries = [*Me.EXPT_GAP_ENTRIES, Me.COMMITTEE]
expt = {e.label: Me.run_expt_gap(e) for e in entries}
ablation = Me.ablation(expt, entries)
display(
    ablation[["entry", "what it adds", "mae (mean)", "mae (std)", "rmse (mean)", "change"]]
    .rename(columns={"mae (mean)": "MAE (eV)", "mae (std)": "fold std", "rmse (mean)": "RMSE"})
    .style.format(
        {"MAE (eV)": "{:.4f}", "fold std": "{:.4f}", "RMSE": "{:.3f}", "change": "{:+.4f}"},
        na_rep="",
    )
    .hide(axis="index")
)
ours = expt[Me.COMMITTEE.label]
best_single = min(Me.GATED_VARIANTS, key=lambda e: expt[e.label].mean())
md(
    f"The median of the gated variants scores **{ours.mean():.4f} eV** (five-fold mean; "
    f"folds {' / '.join(f'{v:.4f}' for v in ours.scores['mae'])}); the best single variant "
    f"on the test folds, *{best_single.label}*, {expt[best_single.label].mean():.4f} eV — a "
    "figure no protocol could have chosen in advance."
)

# %% [markdown]
# ### A rule for rows that are not fundamental gaps: the submitted entry
#
# Some reported gaps are optical or direct gaps far above the fundamental gap (the Si–Ge rows
# at 1.2–2 eV, below, are a visible case). The submitted entry, `expt-gap-cleaned`, registered
# and made the submission before it was scored, drops them by a general rule decided inside
# each fold (`bandgaps.analyses.expt_gap_cleaned`): a tenth of the fold's training
# compositions is set aside to judge; on the rest, five-fold out-of-fold predictions of the
# committee flag a non-metal row whose reported gap exceeds its prediction by more than
# 3 robust σ (σ = 1.4826 × the median absolute residual); the committee is refitted without
# the flagged rows only if that lowers the MAE on the set-aside compositions, and otherwise
# the fold keeps the plain committee. The rule is one-sided: it can only remove gaps that sit
# above what the rest of the data predicts.

# %% tags=["hide-input"]
cleaned, cleanings = XC.run_expt_gap_cleaned()
display(
    XC.cleaning_table(cleaned, cleanings)
    .style.format(precision=4)
    .format({"limit (eV)": "{:.2f}"})
    .hide(axis="index")
)
flagged = XC.flagged_rows(cleanings)
sige, sige_clean = Me.si_ge_measured(), XC.si_ge_cleaned()
md(
    f"The cleaned committee scores **{cleaned.mean():.4f} eV** "
    f"({cleaned.mean() - ours.mean():+.4f} eV against the plain committee); the set-aside "
    f"compositions chose to drop the flagged rows in "
    f"{sum(c.clean for c in cleanings)} of 5 folds. {len(flagged)} distinct rows were flagged "
    f"in some fold ({int(flagged['dropped'].sum())} of them dropped by a fold that cleaned). "
    f"With the Si–Ge system left out, the rule on the other rows "
    + ("dropped" if sige_clean.cleaning.clean else "flagged but kept")
    + f" {len(sige_clean.cleaning.flagged)} rows, and the Si–Ge curve is "
    f"**{sige_clean.mae_4k:.3f} eV** from the 4.2 K curve and **{sige_clean.mae_300k:.3f} eV** "
    f"from the 300 K curve (plain committee: {sige.mae_4k:.3f} / {sige.mae_300k:.3f} eV). "
    "Every flagged row, the largest excess over its out-of-fold prediction first:"
)
display(
    flagged.rename(columns={"target": "reported gap (eV)", "excess": "excess (eV)"})
    .style.format({"reported gap (eV)": "{:.2f}", "excess (eV)": "{:.2f}"})
    .hide(axis="index")
)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 4.8))
plots.leaderboard(
    ax,
    MB.published_of(tasks["expt_gap"]),
    {
        **{e.label: expt[e.label].scores["mae"] for e in (Me.EXPT_GAP_ENTRIES[0], Me.COMMITTEE)},
        "cleaned (submitted)": cleaned.scores["mae"],
    },
    xlabel="expt_gap MAE (eV), five folds",
)
fig.tight_layout()
plt.show()
display(
    MB.leaderboard_table(
        tasks["expt_gap"], {"cleaned (submitted)": cleaned, Me.COMMITTEE.label: ours}
    ).style.format("{:.4f}")
)

# %% tags=["hide-input"]
# paired, per material: our entry against the published per-material predictions
paired = []
for model, preds in MB.leaderboard_predictions(tasks["expt_gap"]).groupby("model"):
    mine = cleaned.predictions.loc[preds.index]
    err_ours = np.abs(mine["prediction"] - mine["target"])
    err_pub = np.abs(preds["prediction"] - mine["target"])
    paired.append(
        {
            "published entry": model,
            "materials": len(preds),
            "ours closer": f"{(err_ours < err_pub).mean():.1%}",
            "published closer": f"{(err_pub < err_ours).mean():.1%}",
            "mean |error| difference (eV)": float((err_ours - err_pub).mean()),
        }
    )
md("**Material by material**, the submitted entry (same test rows, same targets):")
display(
    pd.DataFrame(paired)
    .style.format({"mean |error| difference (eV)": "{:+.4f}"})
    .hide(axis="index")
)

# %% [markdown]
# ## expt_is_metal: measured metals
#
# The same pieces as a classifier (`MetalClassifier`: LightGBM with a log-loss). Matbench
# scores this task by ROC-AUC, and the published entries submitted **labels**, so their
# "ROC-AUC" equals their balanced accuracy. We report both footings: the balanced accuracy of
# our labels (p > 0.5), comparable with the leaderboard, and the ROC-AUC of our
# probabilities, which is what the metric means.

# %% tags=["hide-input"]
metal = {e.label: Me.run_expt_is_metal(e) for e in Me.EXPT_IS_METAL_ENTRIES}
mt = Me.ablation(metal, Me.EXPT_IS_METAL_ENTRIES)
display(
    mt[
        [
            "entry",
            "what it adds",
            "balanced_accuracy (mean)",
            "rocauc (mean)",
            "accuracy (mean)",
            "f1 (mean)",
        ]
    ]
    .rename(
        columns={
            "balanced_accuracy (mean)": "balanced accuracy (labels)",
            "rocauc (mean)": "ROC-AUC (probabilities)",
            "accuracy (mean)": "accuracy",
            "f1 (mean)": "F1",
        }
    )
    .style.format(precision=4)
    .hide(axis="index")
)

# %% [markdown]
# **The submitted entry chooses its pieces and its threshold inside each fold**
# (`expt-is-metal-chosen`, registered and made the submission before it was scored). It starts
# from *+ expt_gap labels* above. Five inner folds of the fold's training rows (stratified,
# grouped by composition) give out-of-fold probabilities; the MP lookup's columns, and every
# report of Zhuo et al. 2018 as one majority label per composition, are each taken only if
# they raise the inner balanced accuracy; the threshold in 0.30–0.70 with the best inner
# balanced accuracy is taken, and the submitted probabilities are mapped monotonically so
# that it falls at 0.5 (the ROC-AUC does not change). Extra rows of a composition that is
# scored (the fold's test rows, or inside, the inner fold's rows) never enter that fit.

# %% tags=["hide-input"]
metal_run = EC.run_expt_is_metal_chosen()
previous = metal[Me.METAL_ENTRY]
labels = EC.report_labels()
held_keys = {str(composition_key(c)) for c in data["expt_is_metal"]["composition"]}
held = int(labels["key"].isin(held_keys).sum())
display(
    EC.choices_table(metal_run)
    .style.format(precision=4)
    .format({"threshold": "{:.2f}"})
    .hide(axis="index")
)

fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 3.4))
plots.leaderboard(
    ax,
    MB.published_of(tasks["expt_is_metal"]),
    {
        "labels (chosen threshold)": metal_run.scores["balanced_accuracy"],
        "probabilities, ROC-AUC": metal_run.scores["rocauc"],
    },
    xlabel="balanced accuracy of labels, or ROC-AUC of probabilities",
    lower_is_better=False,
    start=0.85,
)
fig.tight_layout()
plt.show()
md(
    f"The submitted entry's labels reach a balanced accuracy of "
    f"**{metal_run.mean('balanced_accuracy'):.4f}** against Darwin's "
    f"{MB.published_of(tasks['expt_is_metal']).groupby('model')['value'].mean().max():.4f} "
    "(the best published, also on labels), and its probabilities an ROC-AUC of "
    f"**{metal_run.mean('rocauc'):.4f}**; *{Me.METAL_ENTRY}* alone, the entry it starts from, "
    f"scores {previous.mean('balanced_accuracy'):.4f} / {previous.mean('rocauc'):.4f}. "
    f"The reports give {len(labels):,} majority labels ({labels.attrs['ties']} compositions "
    f"whose reports split evenly are left out); {held:,} of them are compositions "
    "`expt_is_metal` already holds, so outside the scored rows the reports mostly re-weight "
    "rows the classifier has rather than add compositions."
)

# %% [markdown]
# ## Registered entries
#
# Every entry is defined in the study's registry (`bandgaps/analyses/registry.toml`) before
# it is scored: its features, its model, each choice and how that choice is made inside a
# fold's training rows, and the data it learns from besides the task. The commit that added
# an entry is its registration, looked up with git when this page is built. The entries
# that existed before the registry were defined in code before their folds were scored and
# are marked as entered afterwards. Candidates are registered and wait for a later change
# to score them; an entry that is scored stays listed, whether it is kept or not.

# %% tags=["hide-input"]
scored = {
    **{R.entry_for("mp_gap", r.entry).id: f"{r.mean():.4f} eV MAE" for r in (mp, gated)},
    **{
        R.entry_for("expt_gap", k).id: f"{run.mean():.4f} eV MAE"
        for k, run in {**expt, cleaned.entry: cleaned}.items()
    },
    **{
        R.entry_for("expt_is_metal", k).id: (
            f"{run.mean('balanced_accuracy'):.4f} bal. acc. / {run.mean('rocauc'):.4f} AUC"
        )
        for k, run in {**metal, metal_run.entry: metal_run}.items()
    },
}
display(R.registry_table(scored).style.hide(axis="index"))
for task in tasks:
    entry = R.submitted_entry(task)
    md(
        f"**{task}, submitted: {entry.label}** (`{entry.id}`). *Features:* {entry.features}. "
        f"*Model:* {entry.model}. *Choices:* "
        + "; ".join(entry.choices)
        + ". *Learned from besides the task:* "
        + ("; ".join(entry.learned_from) or "nothing")
        + "."
    )

# %% [markdown]
# ## Submission folders
#
# Each task's submitted entry is written as the folder Matbench's repository takes:
# `results.json.gz` (every fold's predictions keyed by the `mb-…` ids, its parameters and
# scores, with Matbench's version and hash) and `info.json` (authors, algorithm, description,
# references, the data it learned from besides the task, library versions). Each folder is
# then read back and re-scored against the published folds.

# %% tags=["hide-input"]
submissions = cache_dir() / "matbench" / "submissions"
folders = []
for task, run in (("mp_gap", gated), ("expt_gap", cleaned), ("expt_is_metal", metal_run)):
    info = S.entry_info(R.entry_for(task, run.entry))
    folder = S.write_submission(submissions / S.folder_name(info), [run], info)
    check = S.check_submission(folder)
    folders.append(
        {
            "task": task,
            "folder": folder.name,
            "registered": info.registered or "–",
            "files": ", ".join(
                f"{p.name} ({p.stat().st_size / 1024:,.0f} kB)" for p in sorted(folder.iterdir())
            ),
            f"recorded {tasks[task].metric}": check["recorded"].mean(),
            f"re-scored {tasks[task].metric}": check["re-scored"].mean(),
        }
    )
display(pd.DataFrame(folders).style.format(precision=4).hide(axis="index"))
md(f"The folders are in `{submissions}`.")

# %% [markdown]
# ## Where we stand against the targets

# %% tags=["hide-input"]
checks = [
    T.check("expt-gap", cleaned.mean()),
    T.check("mp-gap", gated.mean()),
    T.check("expt-is-metal-labels", metal_run.mean("balanced_accuracy")),
    T.check("expt-is-metal-auc", metal_run.mean("rocauc")),
    T.check("si-ge-left-out-4k", sige_clean.mae_4k),
    T.check("si-ge-300k", sige_clean.mae_300k),
]
display(
    T.targets_table(checks)
    .style.format({"this study": "{:.4f}", "target": "{:g}"})
    .hide(axis="index")
)
missed = [c for c in checks if not c.met]
md(
    "Every target is met."
    if not missed
    else "Missed, with the measured number: "
    + "; ".join(f"{c.label}: {c.value:.4f} (target {c.target:g})" for c in missed)
    + ". Nothing was tuned on the test folds to move them."
)

# %% [markdown]
# ## Si–Ge, honestly: the system left out
#
# `expt_gap` holds 23 Si–Ge alloy rows and no pure Si or Ge. A model that has seen them
# would be graded on its own training data, so the sweep's model is trained with **every
# row made only of Si and Ge removed** from `expt_gap` and from `expt_is_metal` (the PBE
# side keeps its PBE data). It is the study's measured-gap model, the median of the gated
# variants; the dotted curve is the submitted entry's, the same model after the cleaning rule
# above decided on the remaining rows.
#
# **Temperatures.** Weber & Alonso's curve is at 4.2 K; most tabulated gaps are at room
# temperature. To compare at 300 K we shift each end of the curve by its measured
# temperature dependence — Varshni's law with Thurmond's parameters for Si
# (α = 4.73·10⁻⁴ eV/K, β = 636 K) and Ge (α = 4.774·10⁻⁴ eV/K, β = 235 K), as tabulated by
# Sze & Ng — and interpolate the shift linearly in x.

# %% tags=["hide-input"]
curve, srows = sige.curve, sige.rows
far = srows[srows["far above"]]
near = srows[~srows["far above"]]
fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 4.4))
ax.plot(curve["x"], curve["experiment 4.2 K"], color="k", lw=1.6, label="Weber & Alonso, 4.2 K")
ax.plot(
    curve["x"],
    curve["experiment 300 K"],
    color="k",
    lw=1.2,
    ls="--",
    label="the same at 300 K",
)
ax.plot(
    curve["x"],
    curve["gap"],
    color=plots.COLORS["non-metal"],
    lw=2,
    label=f"model, Si–Ge left out ({sige.mae_4k:.2f} / {sige.mae_300k:.2f} eV)",
)
ax.plot(
    sige_clean.curve["x"],
    sige_clean.curve["gap"],
    color=plots.COLORS["non-metal"],
    lw=1.4,
    ls=":",
    label=f"same, cleaning rule ({sige_clean.mae_4k:.2f} / {sige_clean.mae_300k:.2f} eV)",
)
ax.plot(
    curve["x"],
    curve["gap, no switching features"],
    color=plots.COLORS["accent"],
    lw=1.2,
    label="same, no switching columns",
)
ax.scatter(
    near["x"],
    near["target"],
    s=22,
    color=plots.COLORS["metal"],
    zorder=3,
    label=f"Si–Ge rows ({len(near)})",
)
ax.scatter(
    far["x"],
    far["target"],
    s=40,
    marker="x",
    color=plots.COLORS["metal"],
    zorder=3,
    label=f"rows far above ({len(far)})",
)
ax.set_xlabel("x in Si$_{1-x}$Ge$_x$")
ax.set_ylabel("band gap (eV)")
ax.set_ylim(0, max(2.4, float(srows["target"].max()) + 0.1))
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
fig.tight_layout()
plt.show()

below = near["above curve (eV)"] + (
    near["x"].map(lambda v: float(Me.curve_at(v, Me.ROOM_T) - Me.curve_at(v, Me.CURVE_T)))
)
md(
    f"Removed for this model: {sige.removed['expt_gap']} `expt_gap` rows and "
    f"{sige.removed['expt_is_metal']} `expt_is_metal` rows; variant **{sige.entry}**. Its "
    f"curve is **{sige.mae_4k:.3f} eV** from the 4.2 K curve and **{sige.mae_300k:.3f} eV** "
    f"from the 300 K curve (goals {T.TARGETS['si-ge-left-out-4k'].value} and "
    f"{T.TARGETS['si-ge-300k'].value} eV). "
    f"Of the {len(srows)} rows, "
    f"{len(far)} (x_Ge {far['x'].min():.3f}–{far['x'].max():.3f}, gaps "
    f"{far['target'].min():.2f}–{far['target'].max():.2f} eV) sit more than "
    f"{Me.FAR_ABOVE} eV above the fundamental-gap curve — they are not fundamental gaps and "
    f"are marked, not used. The other {len(near)} sit on average "
    f"{-below.mean():.3f} eV below the 4.2 K curve, about what room temperature does."
)

# %% [markdown]
# **Columns that switch.** A formula that changes by one atom in a hundred should not change
# the answer much, yet some composition features change *discretely*: the Magpie `mode`
# statistics take the property of the majority element and flip at x = 0.5, and `compound
# possible` (charge balance) depends on whether small integers balance the formula. The
# predicted PBE metallicity inherits the jumps. The table lists, for near-identical pairs,
# every column that jumps and the two predicted gaps; the figure's second curve is the same
# model retrained without the `mode` and `compound possible` columns.

# %% tags=["hide-input"]
display(
    sige.switches.style.format({"gap a (eV)": "{:.3f}", "gap b (eV)": "{:.3f}"}).hide(axis="index")
)
md(
    f"Without the switching columns the curve is {sige.mae_smooth['4.2 K']:.3f} eV from the "
    f"4.2 K curve and {sige.mae_smooth['300 K']:.3f} eV from the 300 K curve."
)

# %% [markdown]
# ## How sure is a measured gap?
#
# The committee's out-of-fold predictions of the five official folds, with the members'
# spread as σ, calibrate conformal sets for the measured-gap model (cross-conformal: the
# all-rows model is calibrated on predictions of models that did not see each row). As on
# the Composition model page, a constant half-width is set beside the adaptive choice, which
# may scale by σ and calibrate metals and non-metals separately (label-conditional: the set
# is "0 eV, a metal" if the row's metal score allows it, plus an interval for the gap). To
# score them on rows that did not calibrate them, each fold's rows get sets calibrated on the
# other four folds; nothing is refitted.

# %% tags=["hide-input"]
mi = Me.measured_interval_study()
s90 = mi.summary[mi.summary["level"] == 0.9].pivot(
    index="method", columns="group", values=["coverage", "mean width"]
)
display(
    mi.summary.pivot(index=["method", "level"], columns="group", values="coverage")
    .style.format("{:.1%}")
    .set_caption("coverage of the conformal sets, fold by fold (calibrated on the other folds)")
)
fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 3.0))
groups = ["all", "metals", "non-metals"]
xs = np.arange(len(groups))
for k, (name, color) in enumerate(
    [("constant (absolute)", "0.6"), ("adaptive", plots.COLORS["non-metal"])]
):
    ax.bar(
        xs + (k - 0.5) * 0.38,
        [s90.loc[name, ("coverage", g)] * 100 for g in groups],
        width=0.38,
        color=color,
        label=f"{name}, ρ(width, error) = {mi.rho[name]:.2f}",
    )
ax.axhspan(88, 92, color="0.9", zorder=0, label="88–92 %")
ax.set_xticks(xs, groups)
ax.set_ylim(50, 105)
ax.set_ylabel("coverage at 90 % (%)")
ax.legend(frameon=False, fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
model_mg, _ = named.load_named("measured-gap")
within = {
    name: all(0.88 <= s90.loc[name, ("coverage", g)] <= 0.92 for g in ("metals", "non-metals"))
    for name in ("constant (absolute)", "adaptive")
}
md(
    f"At 90 % the constant set covers {s90.loc['constant (absolute)', ('coverage', 'metals')]:.1%}"
    f" of metals and {s90.loc['constant (absolute)', ('coverage', 'non-metals')]:.1%} of "
    f"non-metals; the adaptive one (chosen per fold: {', '.join(sorted(set(mi.chosen)))}) "
    f"covers **{s90.loc['adaptive', ('coverage', 'metals')]:.1%}** and "
    f"**{s90.loc['adaptive', ('coverage', 'non-metals')]:.1%}** "
    f"({'both' if within['adaptive'] else 'not both'} within 88–92 %), with a mean width of "
    f"{s90.loc['adaptive', ('mean width', 'non-metals')]:.2f} eV for non-metals against "
    f"{s90.loc['constant (absolute)', ('mean width', 'non-metals')]:.2f} eV. The named model "
    f"uses **{model_mg.intervals_.label}**, calibrated on all "
    f"{len(model_mg.intervals_.y_):,} out-of-fold rows, and scores its domain by "
    f"**{model_mg.domain_.score_}** (ρ with the error on those rows: distance "
    f"{model_mg.domain_.correlations_['distance']:.2f}, σ "
    f"{model_mg.domain_.correlations_['σ']:.2f}). `bandgaps predict measured-gap` prints "
    "the 90 % set and the domain flag (below)."
)

# %% [markdown]
# ## The named model learns from every measured gap
#
# Matbench's `expt_gap` keeps one row per composition and drops every composition whose
# reported gaps spread by more than 0.1 eV. That removes the materials users ask about first
# (GaAs, GaN, ZnO, AlN, CdS, InP), and a model trained on the task has never seen them. The
# benchmark entries above stay on Matbench's task. The named `measured-gap` model learns from
# every report of the source (Zhuo et al. 2018): one row per composition, its target the
# median report, with the reports' spread beside it.
#
# **Measured on what it did not see.** The compositions Matbench dropped are split into five
# seeded groups. Each group is predicted by a model trained on everything else, with that
# group's gap rows and `expt_is_metal` labels removed, and set beside the Matbench-only model.
# The Matbench-only model never saw their gaps, but its gate saw their metal labels, an
# advantage left to it. These held-out predictions also calibrate the named model's conformal
# sets, together with the official folds' out-of-fold predictions.

# %% tags=["hide-input"]
reports = MR.report_table()
held = MR.held_out_dropped()
gains = MR.gains_table(held)
display(
    gains.style.format(
        {
            "MAE, all reports (eV)": "{:.3f}",
            "MAE, Matbench only (eV)": "{:.3f}",
            "all reports closer": "{:.0%}",
            "Matbench only closer": "{:.0%}",
        }
    ).hide(axis="index")
)
fig, axes = plt.subplots(1, 2, figsize=(plots.PAGE_WIDTH, 3.6), sharex=True, sharey=True)
top = float(max(held.rows["target"].max(), held.rows["product"].max())) + 0.3
for ax, column, title in zip(
    axes,
    ("matbench-only", "product"),
    ("trained on Matbench's rows", "trained on every report (held out)"),
    strict=True,
):
    ax.errorbar(
        held.rows["target"],
        held.rows[column],
        xerr=held.rows["spread"] / 2,
        fmt="o",
        ms=3,
        lw=0.6,
        alpha=0.6,
        color=plots.COLORS["non-metal"],
    )
    ax.plot([0, top], [0, top], color="0.4", lw=0.8)
    ax.set_title(f"{title}: MAE {held.mae(column):.2f} eV", fontsize=9)
    ax.set_xlabel("median report (eV; bar: half the spread)")
axes[0].set_ylabel("predicted gap (eV)")
axes[0].set_xlim(0, top)
axes[0].set_ylim(0, top)
fig.tight_layout()
plt.show()
named_rows = held.rows.set_index("formula").reindex(list(MR.NAMED_DROPPED)).dropna(how="all")
display(
    named_rows[["reports", "target", "spread", "product", "matbench-only"]]
    .rename(
        columns={
            "target": "median report (eV)",
            "spread": "spread (eV)",
            "product": "all reports, held out (eV)",
            "matbench-only": "Matbench only (eV)",
        }
    )
    .style.format(precision=2)
)
better = held.mae("product") < held.mae("matbench-only")
md(
    f"The source holds **{int(reports['reports'].sum()):,} reports** of "
    f"**{len(reports):,} compositions**; Matbench kept {int(reports['in matbench'].sum()):,}. "
    f"On the {len(held.rows)} compositions it dropped, each predicted by a model that did not "
    f"see it, the model that learns from every report is **{held.mae('product'):.3f} eV** from "
    f"the median report against **{held.mae('matbench-only'):.3f} eV** for the Matbench-only "
    f"model: it {'beats' if better else 'does not beat'} it. Fitting the five held-out models "
    f"took {held.seconds:.0f} s. Reports whose formula cannot be parsed are dropped: "
    + (", ".join(f"`{d['formula']}`" for d in reports.attrs["dropped"]) or "none")
    + "; a composition Matbench holds but no parsable report has joins as Matbench's row: "
    + (", ".join(reports.attrs["from matbench"]) or "none")
    + "."
)

# %% [markdown]
# ## Use it: named models
#
# The build leaves the study's models as files the command line finds by name; a user who
# has not built the site gets them trained on first use. `bandgaps models` lists them;
# `bandgaps predict measured-gap Si Ge …` predicts with one and says which quantity it is.
# Each is its task's submitted entry run once more with every row as training rows, every
# choice made again inside them: `pbe-gap` is `mp-gap-gated` on all of `mp_gap`, and
# `measured-gap` is `expt-gap-cleaned` on the median report of every composition.

# %% tags=["hide-input"]
for name in named.NAMED:
    named.ensure(name)
_, pbe_choice = MG.pbe_gap_product()
_, _, product_cleaning = MR.product_model()
pbe_known = set(named.load_named("pbe-gap")[0].domain_.elements_)
pbe_noble = ", ".join(sorted(pbe_known & {"He", "Ne", "Ar", "Kr", "Xe", "Rn"}))
pbe_noble = f"noble gases among them: {pbe_noble}" if pbe_noble else "no noble gas among them"
pbe_dom = pbe_choice["domain"]
pbe_gated_mae = pbe_choice["calibration MAE by threshold"][f"{pbe_choice['threshold']:g}"]
judges = product_cleaning.calibration_mae
md(
    f"**`pbe-gap`.** On its {pbe_choice['calibration rows']:,} calibration rows the gate at "
    f"threshold {pbe_choice['threshold']:g} scores "
    f"{pbe_gated_mae:.4f} eV against "
    f"{pbe_choice['ungated calibration MAE']:.4f} eV without it, so the model "
    + (
        "**gates**: a composition whose metal probability is above the threshold is 0 eV."
        if pbe_choice["gate"]
        else "**does not gate** (the ungated regressor answers)."
    )
    + f" Its domain of applicability knows the {pbe_dom['elements']} elements of "
    f"its fit rows ({pbe_noble}) and flags a composition farther from them than "
    f"{FLAG_PERCENTILE:g} % of the calibration rows. Over all calibration rows the distance "
    "does not rank the errors (rank correlation "
    f"{pbe_dom['distance ρ with |error|']:.2f}: far rows are more often metals, which the "
    f"gate sets to 0 eV), but the {pbe_dom['calibration rows beyond the flag']} rows beyond "
    f"the flag ({pbe_dom['metal share beyond the flag']:.0%} metals, against "
    f"{pbe_dom['metal share within']:.0%} within) are predicted worse, "
    f"{pbe_dom['calibration MAE beyond the flag']:.3f} eV against "
    f"{pbe_dom['calibration MAE within']:.3f} eV within it."
    + f" **`measured-gap`.** On all {len(reports):,} compositions the rule flags "
    f"{len(product_cleaning.flagged)} rows (more than {product_cleaning.limit:.2f} eV above "
    f"their out-of-fold prediction); its {product_cleaning.calibration_rows} judges score "
    f"{judges['every row']:.5f} eV with every row and {judges['cleaned']:.5f} eV without "
    "the flagged ones, so the model "
    + (
        f"**drops them** (a margin of {judges['every row'] - judges['cleaned']:.5f} eV). "
        "Its intervals, and the held-out comparison above, are of the committee without "
        "the rule. The dropped rows with the largest excess, and what the named model now "
        "says of them:"
        if product_cleaning.clean
        else "**keeps every row**."
    )
)
if product_cleaning.clean:
    worst = product_cleaning.flagged.sort_values("excess", ascending=False).head(12)
    now = named.predict_named("measured-gap", list(worst["formula"]))
    display(
        worst.assign(**{"measured-gap now (eV)": now["measured gap (eV)"].to_numpy()})
        .rename(columns={"target": "median report (eV)", "excess": "excess (eV)"})
        .style.hide(axis="index")
        .format(precision=2)
    )
display(
    named.list_models()[
        ["name", "predicts", "status", "trained_on", "n_train", "description"]
    ].style.hide(axis="index")
)
examples = ["Si", "Ge", "Si49Ge51", "GaAs", "ZnO", "C", "Kr", "Xe"]
measured = named.predict_named("measured-gap", examples).set_index("formula")
pbe = named.predict_named("pbe-gap", examples).set_index("formula")
table = pd.DataFrame(
    {
        "measured gap (eV), measured-gap": measured["measured gap (eV)"],
        "90 % interval (eV)": [
            f"{lo:.2f}–{hi:.2f}"
            for lo, hi in zip(measured["lower 0.9"], measured["upper 0.9"], strict=True)
        ],
        "metal in the 90 % set": (
            measured["0 possible 0.9"].map({True: "yes", False: "no"})
            if "0 possible 0.9" in measured
            else "–"
        ),
        "in domain": measured["in domain"].map({True: "yes", False: "no"}),
        "PBE gap (eV), pbe-gap": pbe["PBE gap (eV)"],
        "in pbe-gap's domain": pbe["in domain"].map({True: "yes", False: "no"}),
        "metal probability (measured)": measured["metal probability"],
    }
)
display(
    table.style.format(
        {
            "measured gap (eV), measured-gap": "{:.3f}",
            "PBE gap (eV), pbe-gap": "{:.3f}",
            "metal probability (measured)": "{:.3f}",
        }
    )
)
outside = [f for f in examples if not measured.loc[f, "in domain"]]
pbe_outside = [f for f in examples if not pbe.loc[f, "in domain"]]
md(
    "Outside the measured-gap model's domain: "
    + (", ".join(outside) if outside else "none of these")
    + ". The source reports no element, so the domain flags any composition with fewer "
    "elements than every training row, as well as elements no training row had and formulas "
    "far from the training rows; its number for them is not one to trust. Outside "
    "pbe-gap's: " + (", ".join(pbe_outside) if pbe_outside else "none of these") + "."
)
