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
# # Reproducibility and performance
#
# Everything needed to regenerate this site, and what it costs: the environment it was built
# in, the pinned inputs with their checksums, the seeds, the time each stage took and the
# measured time of cold and warm builds. All of it is read or measured while the site builds.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from bandgaps import buildlog, plots
from bandgaps.analyses import discussion as D
from bandgaps.analyses import reproducibility as R
from bandgaps.config import SEED
from bandgaps.data.tables import load_table

plots.use_page_style()


def md(text: str) -> None:
    display(Markdown(text))


# %% [markdown]
# ## Environment
#
# The versions installed in the environment that built this page. They are pinned in
# `pyproject.toml` and, with every transitive dependency, in `requirements.lock`; `make site`
# and `make test` install exactly those with `uv`.

# %% tags=["hide-input"]
env = R.environment()
display(env.style.hide(axis="index"))

# %% [markdown]
# ## Data and weights
#
# Every input lives in the read-only snapshot folder (`BANDGAPS_SHARED`, by default `../shared`
# beside the checkout) and is listed in `bandgaps/data/catalog.yaml` with its sha256. Each file
# was hashed again for this table; a missing or altered file stops the build with its name.

# %% tags=["hide-input"]
sums = R.checksums()
display(
    sums.assign(sha256=sums["sha256"].str[:16] + "…")
    .style.format({"MiB": "{:.1f}"})
    .hide(axis="index")
)
md(
    f"{len(sums)} files, {sums['MiB'].sum():.0f} MiB in all, in {sums['entry'].nunique()} "
    "catalog entries; every checksum matched. `bandgaps data verify` repeats the check."
)

# %% [markdown]
# ## Seeds
#
# One seed, `bandgaps.config.SEED`, fixes every random choice: the train/test
# splits, the forests' bootstraps, LightGBM's bagging and feature sampling, the order of
# MEGNet's training data and its weight initialisation, the SQS Monte Carlo and the random
# Si–Ge cells. A rebuild therefore gives the same numbers on the same library versions.
# LightGBM and TensorFlow can differ in the last digits across CPUs and thread counts.

# %% tags=["hide-input"]
md(f"The seed in this build: **{SEED}**.")

# %% [markdown]
# ## Time per stage
#
# How long each expensive step took when it was computed. Each result is a cached *stage*
# (`bandgaps.cache.Stage`) keyed by what determines it: the sha256 of every file it reads
# (snapshots and MEGNet weights), its parameters, the versions of the libraries that compute it,
# and the code that computes it — its module and every `bandgaps` module that module imports,
# read as syntax trees so that docstrings, comments and formatting do not count. An edit
# therefore recomputes only the stages whose code it touches. A warm build reads results back,
# so these are the times of the build that first computed them. Featurization is timed afresh
# in every build.

# %% tags=["hide-input"]
bench = R.featurization_benchmark(load_table("matbench-mp-gap-test")["formula"])
display(
    bench.drop(columns="feature set")
    .style.format({"seconds": "{:.2f}", "formulas/s": "{:,.0f}"})
    .hide(axis="index")
)
rate = bench.set_index("how")["formulas/s"]
n_formulas = bench.set_index("how").loc[R.COLD, "formulas"]
md(
    f"Magpie features of matbench `test0` ({n_formulas:,} formulas) were "
    f"computed at {rate[R.COLD]:,.0f} formulas/s, {rate[R.COLD] / rate[R.MATMINER]:.0f}× "
    "matminer's one-formula-at-a-time rate, and read back from the cache at "
    f"{rate[R.WARM]:,.0f} formulas/s."
)

# %% tags=["hide-input"]
costs = R.stage_costs()
cold_total = costs["seconds"].sum()
fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 0.28 * len(costs) + 1.2))
ax.barh(costs["stage"], costs["seconds"] / 60, color="#3b6fb6")
ax.invert_yaxis()
ax.set_xlabel("minutes to compute from an empty cache (two cores when built in CI)")
fig.tight_layout()
plt.show()
md(
    f"The {len(costs)} cached stages of this build's results took **{cold_total / 60:.1f} min** "
    f"to compute, against a cold-build budget of {R.GOALS['cold'] / 60:.0f} min for the "
    "whole site (page execution and rendering come on top). Each stage's time is its own: "
    "a stage that calls another counts only its own work."
)

# %% tags=["hide-input"]
results = D.collect()
stages = R.stage_timings(results)
display(
    stages.style.format({"seconds": "{:.1f}", "items/s": "{:,.1f}", "items": "{:,}"}).hide(
        axis="index"
    )
)
fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 0.28 * len(stages) + 1))
colors = dict(
    zip(stages["stage"].unique(), ["#3b6fb6", "#d95f02", "#1b9e77", "#7570b3"], strict=False)
)
ax.barh(stages["what"], stages["seconds"], color=[colors[s] for s in stages["stage"]])
ax.invert_yaxis()
ax.set_xscale("log")
ax.set_xlabel("seconds (log scale)")
handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
ax.legend(handles, list(colors), frameon=False, fontsize="small", loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Model files: safe to share
#
# `bandgaps train` writes a model file of plain data (format line, sha256, a ZIP of JSON, the
# trees as numeric arrays or LightGBM's text models; see the README). This build measured what
# such a file withstands:

# %% tags=["hide-input"]
checks = R.model_file_checks()
md(
    f"* `bandgaps train --model lgbm` on {checks['rows']} rows took "
    f"{checks['train seconds']:.1f} s (boosters stop early on held-out rows) and wrote "
    f"{checks['file bytes'] / 1e3:.0f} kB.\n"
    f"* {checks['flips detected']:,} of {checks['bit flips']:,} single-bit flips at random "
    "positions of that file were reported as a corrupt file (one line, no crash).\n"
    f"* {checks['crafted refused']} of {checks['crafted files']} crafted files that would run "
    "code if unpickled were refused; code ran in "
    f"{checks['crafted that ran code']} of them.\n\n"
    "A model file from anyone is safe to read; its predictions are only as good as whoever "
    "trained it. The result cache is pickled: it is your own folder, not for files from "
    "elsewhere."
)

# %% [markdown]
# ## Build times
#
# Every `mkdocs build` appends a record to `build-log.json` in the cache folder: its total and
# per-page times, and whether it was **cold** (it started from an empty cache, so every model
# was trained and every prediction made), **warm** (it computed nothing new) or **partial**.
# Pages are executed in the order a reader meets them (the navigation), and the first page that
# needs a result computes it; this page runs last, so it sees every stage of the build.

# %% tags=["hide-input"]
records = buildlog.read_log()
history = R.build_history(records)
current = buildlog.read_current()
lines = []
for kind, goal in R.GOALS.items():
    rec = buildlog.latest(kind, records)
    if rec is None:
        lines.append(
            f"* No {kind} build is recorded in this cache yet"
            + (" (this build is the first with this cache)." if not records else ".")
        )
    else:
        verdict = "within" if rec["seconds"] <= goal else "over"
        lines.append(
            f"* Latest **{kind}** build: **{rec['seconds'] / 60:.1f} min** "
            f"({rec['seconds']:.0f} s, started {rec['started'][:16].replace('T', ' ')} UTC, "
            f"{rec['cpus']} cores), "
            f"{verdict} the {goal / 60:.0f}-minute goal."
        )
if current:
    lines.append(
        f"* This build ({current['kind so far']} so far) had run {current['seconds so far']:.0f} s "
        f"over {len(current['pages'])} pages when this page started."
    )
md("\n".join(lines))
if len(history):
    display(history.tail(10).style.format({"seconds": "{:.1f}"}).hide(axis="index"))

# %% tags=["hide-input"]
pages = R.page_times(records)
if current and current["pages"]:
    pages[f"this build, so far ({current['kind so far']}) (s)"] = pd.Series(
        current["pages"], dtype=float
    )
if len(pages):
    pages = pages.loc[[p for p in pages.index if p.endswith(".py")]].fillna(0.0)
    fig, ax = plt.subplots(
        figsize=(plots.PAGE_WIDTH, 0.35 * len(pages) * max(1, len(pages.columns) / 2) + 1)
    )
    y = np.arange(len(pages))
    h = 0.8 / len(pages.columns)
    for k, col in enumerate(pages.columns):
        ax.barh(y + k * h, pages[col], height=h, label=col)
    ax.set_yticks(y + h * (len(pages.columns) - 1) / 2, pages.index)
    ax.invert_yaxis()
    ax.set_xlabel("seconds to execute and render the page")
    ax.legend(frameon=False)
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
budgets = R.page_budgets(records)
if budgets["latest cold build (s)"].notna().any():
    display(
        budgets.style.format(
            {"budget (s)": "{:.0f}", "latest cold build (s)": "{:.0f}"}, na_rep="—"
        )
    )
    over = budgets.index[budgets["latest cold build (s)"] > budgets["budget (s)"]]
    md(
        "Pages over their cold budget in the latest cold build: "
        + (", ".join(f"`{p}`" for p in over) if len(over) else "none")
        + "."
    )
else:
    md("No cold build is recorded in this cache yet, so no page can be set against its budget.")

# %% [markdown]
# ## How to rebuild
#
# ```bash
# make site   # creates .venv from requirements.lock, builds the whole site into site/
# make test   # the same environment, then the whole test suite (it builds the site too)
# ```
#
# Both need Python 3.11, `make`, and the snapshot folder beside the checkout (`../shared`) or
# named by `BANDGAPS_SHARED`. Cached results live in `.cache/bandgaps` (`BANDGAPS_CACHE`);
# delete it, or run `make clean`, for a cold build. The browser test needs Chromium
# (`/usr/bin/chromium`); `make test` installs Debian's package when it is missing.
#
# ## Running with live Materials Project data
#
# The pinned snapshot is a 2021 query. To repeat it against today's database, get an API key
# from <https://next-gen.materialsproject.org/api> and run
#
# ```bash
# export MP_API_KEY=<your key>
# .venv/bin/bandgaps data fetch                      # binaries with a band structure, E_hull ≤ 0.01
# .venv/bin/bandgaps data fetch --any-composition    # every composition (the reference's 75k query)
# .venv/bin/bandgaps data info data/<file>.json.gz   # rows, checksum, database version, query
# .venv/bin/bandgaps train --data data/<file>.json.gz --model lgbm --out gap.model
# ```
#
# The query asks MP's summary endpoint for `has_props=bandstructure` and writes the snapshot
# with a provenance record (criteria, date, database version, row count, sha256). Without a key,
# or offline, it stops within seconds with a message saying which.
#
# ## Training MEGNet at full scale on a GPU
#
# The Structure model page trains a small MEGNet on the snapshot's non-metals in a few minutes
# of CPU; the same estimator trains at full scale on a machine with a CUDA GPU
# (`pip install -e . "tensorflow[and-cuda]==2.15.1"`, Keras 2 as megnet 1.3.2 needs). The recipe
# is on the [Structure model page](structure.html#full-scale-training-on-a-gpu-machine).
# Graphs are cached on disk keyed by the structures, so a second run starts training at once.
