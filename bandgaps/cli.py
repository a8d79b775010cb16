"""The ``bandgaps`` command line.

Errors the package raises on purpose (``BandgapsError``) are printed as
one line on stderr with exit status 1 — never a traceback.
"""

from __future__ import annotations

import functools
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bandgaps.errors import BandgapsError, OptionError

#: Ceilings of `data fetch`: elements per material (MP's largest hold 9) and documents per
#: request (the API's page limit).
MAX_ELEMENTS = 10
MAX_CHUNK = 1000
#: Ceilings of `supercells --method random`: cells per composition, and atoms per cell (8·8³).
MAX_SEEDS = 1000
MAX_RANDOM_ATOMS = 4096

app = typer.Typer(
    help="Machine-learned band gaps: data, models and predictions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(
    help="The pinned snapshots and the live Materials Project query.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(
    help="The result cache of the site's stages (BANDGAPS_CACHE).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cache_app, name="cache")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@data_app.command("list")
def data_list() -> None:
    """List every data set and model file in the catalog."""
    from bandgaps.data import catalog

    table = Table()
    table.add_column("name", no_wrap=True, min_width=max(map(len, catalog.CATALOG)))
    table.add_column("kind", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("title", overflow="fold")
    for entry in catalog.CATALOG.values():
        table.add_row(
            entry.name,
            entry.kind,
            "" if entry.rows is None else f"{entry.rows:,}",
            Text(entry.title),
        )
    out.print(table)


@data_app.command("info")
def data_info(
    name: Annotated[str, typer.Argument(help="catalog name or a fetched .json.gz")],
) -> None:
    """Rows, columns, checksum and provenance of one data set (checksum verified)."""
    from bandgaps.data import catalog, tables

    if tables.source_kind(name) != "catalog":
        frame = tables.load_table(name)
        prov = frame.attrs.get("provenance", {})
        fields = {
            "file": str(Path(name).resolve()),
            "sha256": frame.attrs["sha256"],
            "rows": f"{len(frame):,}",
            "columns": ", ".join(map(str, frame.columns)),
        }
        fields.update(
            {f"provenance.{k}": str(v) for k, v in prov.items()}
            or {"provenance": "no provenance record beside the file"}
        )
        return _print_fields(name, fields)
    entry = catalog.get(name)
    file = catalog.verify(name)
    fields = {
        "title": entry.title,
        "kind": entry.kind,
        "file": str(file),
        "sha256": f"{entry.sha256} (verified)",
    }
    if entry.kind == catalog.MODEL:
        fields["files"] = ", ".join(rel for rel, _ in entry.files)
    else:
        frame = tables.load_table(name)
        fields["rows"] = f"{len(frame):,}"
        described = {c.name: c for c in entry.columns}
        fields["columns"] = "; ".join(
            f"{c}"
            + (f" [{described[c].unit}]" if c in described and described[c].unit else "")
            + (f": {described[c].meaning}" if c in described else "")
            for c in frame.columns
        )
        if frame.attrs.get("dropped"):
            fields["dropped rows"] = "; ".join(d["reason"] for d in frame.attrs["dropped"])
        if frame.attrs.get("dropped_columns"):
            fields["dropped columns"] = ", ".join(frame.attrs["dropped_columns"])
        if "band_gap" in frame:
            metals = int((frame["band_gap"] == 0).sum())
            fields["metals (gap = 0)"] = f"{metals:,} of {len(frame):,}"
    fields.update(
        {
            "source (live)": entry.source,
            "snapshot origin": entry.origin,
            "retrieved": entry.retrieved,
        }
    )
    if entry.query:
        fields["query"] = str(entry.query)
    if entry.notes:
        fields["notes"] = entry.notes
    _print_fields(name, fields)


@data_app.command("verify")
def data_verify(
    names: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
) -> None:
    """Check the sha256 of every (or the named) snapshot file."""
    from bandgaps.data import catalog

    chosen = names or catalog.names()
    for name in chosen:
        catalog.verify(name)
    out.print(f"{len(chosen)} catalog entries verified under {catalog.shared_root()}")


@cache_app.command("info")
def cache_info() -> None:
    """List the cached stages: entries, seconds to compute, and whether the code still reaches
    them."""
    from bandgaps import cache

    table = Table()
    for col, justify in (("stage", "left"), ("entries", "right"), ("current", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    stages: dict[str, list[int | float]] = {}
    for record in cache.records():
        row = stages.setdefault(record["stage"], [0, 0, 0.0])
        row[0] += 1
        row[1] += cache.is_current(record)
        row[2] += float(record.get("seconds", 0.0))
    for name, (n, current, seconds) in sorted(stages.items()):
        table.add_row(name, str(n), str(current), f"{seconds:.1f}")
    out.print(table)
    out.print(f"{cache.entries()} cached results under {cache.results_dir()}")


@cache_app.command("prune")
def cache_prune() -> None:
    """Delete every cached result that no current key can reach (made by other code or other
    library versions)."""
    from bandgaps import cache

    counts = cache.prune()
    out.print(
        f"removed {counts['removed']} cached results, kept {counts['kept']} "
        f"under {cache.results_dir()}"
    )


@data_app.command("fetch")
def data_fetch(
    name: Annotated[
        str, typer.Argument(help="catalog name of an MP data set")
    ] = "mp-bandstructure-binaries",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="where to write (.json.gz)")
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="API URL (default: $MP_API_ENDPOINT or the public Materials Project API)"
        ),
    ] = None,
    nelements: Annotated[
        tuple[int, int] | None, typer.Option(help="min and max number of elements")
    ] = None,
    max_e_above_hull: Annotated[
        float | None, typer.Option(help="eV/atom; default from the catalog")
    ] = None,
    any_composition: Annotated[
        bool,
        typer.Option("--any-composition", help="drop the element-count filter (all materials)"),
    ] = False,
    chunk_size: Annotated[int, typer.Option(help="documents per request")] = 1000,
) -> None:
    """Query the live Materials Project (needs MP_API_KEY) and write a new snapshot."""
    from bandgaps.config import progress_enabled
    from bandgaps.data import catalog
    from bandgaps.data.mp_query import MPQuery, fetch_snapshot

    # every option is checked before the key is looked up or a request is sent
    if nelements is not None and not 1 <= nelements[0] <= nelements[1] <= MAX_ELEMENTS:
        raise OptionError(
            f"--nelements takes a min and a max with 1 ≤ min ≤ max ≤ {MAX_ELEMENTS}, not "
            f"{nelements[0]} {nelements[1]}"
        )
    if max_e_above_hull is not None and not 0 <= max_e_above_hull < 100:
        raise OptionError(
            f"--max-e-above-hull is in eV/atom, from 0 to 100, not {max_e_above_hull:g}"
        )
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise OptionError(f"--chunk-size must be from 1 to {MAX_CHUNK:,}, not {chunk_size}")
    if out_file is not None:
        if not out_file.name.endswith(".json.gz"):
            raise OptionError(f"--out {out_file}: a snapshot file's name ends with .json.gz")
        _check_output_file(out_file)
    entry = catalog.get(name)
    if entry.kind != catalog.MP_JSON or not entry.query:
        raise BandgapsError(
            f"{name!r} has no live query here; only Materials Project data sets "
            f"({', '.join(catalog.names(catalog.MP_JSON))}) can be fetched. "
            f"Its source: {entry.source}"
        )
    q = entry.query
    ehull = q.get("energy_above_hull")
    if max_e_above_hull is not None:
        ehull = (0.0, max_e_above_hull)
    nel = None if any_composition else (nelements or q.get("nelements"))
    query = MPQuery(
        has_props=tuple(q["has_props"]),
        nelements=tuple(nel) if nel else None,
        energy_above_hull=tuple(ehull) if ehull else None,
    )
    target = out_file or Path("data") / f"{name}-{date.today().isoformat()}.json.gz"
    record = fetch_snapshot(
        target,
        query,
        dataset=name,
        endpoint=endpoint,
        chunk_size=chunk_size,
        progress=progress_enabled(),
    )
    out.print(
        f"wrote {target} ({record['rows']:,} rows, database {record['db_version']}, "
        f"sha256 {record['sha256'][:16]}…) and its provenance record"
    )


@app.command("train")
def train_cmd(
    data: Annotated[
        str,
        typer.Option(
            help="catalog name, fetched .json.gz snapshot, or CSV/Parquet with a 'formula' column"
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="model file to write")],
    target: Annotated[
        str | None,
        typer.Option(help="column to learn (default: band_gap for MP data, else target)"),
    ] = None,
    model: Annotated[str, typer.Option(help="rf or lgbm")] = "rf",
    feature_set: Annotated[
        str | None, typer.Option(help="feature set (default: the model's own)")
    ] = None,
    calibration: Annotated[
        float, typer.Option(help="fraction of rows held out to calibrate conformal intervals")
    ] = 0.1,
    n_estimators: Annotated[int | None, typer.Option(help="trees / boosting rounds")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
) -> None:
    """Train a composition model for any numeric target and write it to a model file."""
    from bandgaps.data.tables import training_table
    from bandgaps.models.composition import get_spec
    from bandgaps.models.lgbm_text import MAX_TREES
    from bandgaps.models.training import train_to_file

    # every option and the output path are checked before any data is read or model trained
    get_spec(model)
    if not 0 <= calibration < 1:
        raise OptionError(f"--calibration must be a fraction in [0, 1), not {calibration}")
    if not 0 <= seed < 2**32:
        raise OptionError(f"--seed must be from 0 to 2³² − 1, not {seed}")
    if n_estimators is not None and not 1 <= n_estimators <= MAX_TREES:
        raise OptionError(
            f"--n-estimators must be from 1 to {MAX_TREES:,} (the most trees a model file "
            f"may hold), not {n_estimators}"
        )
    _check_output_file(out_file)
    table = training_table(data, target)
    dropped = table.source["rows without a finite numeric target"]
    if dropped:
        out.print(
            f"dropped {dropped:,} row(s) whose {table.target} is not a finite number "
            "(text, empty, NaN or inf)"
        )
    params = {} if n_estimators is None else {"n_estimators": n_estimators}
    out.print(
        f"training {model} on {len(table.y):,} rows of {data} → {table.target} "
        f"({calibration:.0%} held out for calibration)"
    )
    card = train_to_file(
        out_file,
        table,
        kind=model,
        feature_set=feature_set,
        calibration_fraction=calibration,
        params=params,
        seed=seed,
    )
    extra = ""
    if card.metrics:
        m = card.metrics
        extra = f"; MAE on the {m['n_cal']:,} held-out rows {m['calibration MAE']:.3f}"
    if card.conformal:
        extra += f"; intervals: {card.conformal['method']}"
    out.print(f"wrote {out_file} ({card.kind}, features {card.feature_set['name']}{extra})")


@app.command("predict")
def predict_cmd(
    model_file: Annotated[
        str,
        typer.Argument(
            help="a named model (measured-gap, pbe-gap; see `bandgaps models`) or a model file "
            "from `bandgaps train`"
        ),
    ],
    formulas: Annotated[list[str] | None, typer.Argument(help="chemical formulas")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="CSV with a 'formula' column")] = None,
    level: Annotated[
        list[float] | None,
        typer.Option(
            "--level",
            "--interval",
            help="coverage of the conformal interval (default 0.9; repeat for several) of a "
            "model file or of the measured-gap model",
        ),
    ] = None,
    risk: Annotated[
        float | None,
        typer.Option(
            help="also print a one-sided safe upper bound exceeded with this probability "
            "(e.g. 0.05 for a k-point length that converges for 95 % of materials)"
        ),
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="print CSV instead of a table")] = False,
) -> None:
    """Predict band gaps (or a model file's target) for formulas.

    With a named model the table says which quantity it is: the measured gap or the PBE gap.
    A calibrated model file, and the measured-gap model, add an adaptive conformal interval;
    they and the pbe-gap model add a domain-of-applicability score and flag, and warn in one
    line when a formula lies outside that domain.
    """
    from bandgaps.features.composition import _as_compositions
    from bandgaps.models.persist import read_card
    from bandgaps.models.predictor import check_options, resolve

    items = list(formulas or [])
    if file is not None:
        items += _formulas_from_csv(file)
    if not items:
        raise OptionError("Give formulas as arguments or a CSV with --file")
    # the options, then every formula (one clear error naming it), before a model is read
    check_options(model_file, level, risk)
    comps = _as_compositions(items, index=range(1, len(items) + 1))

    def training(name: str) -> None:
        err.print(f"training the named model {name!r} once (a few minutes)…")

    predictor = resolve(model_file, on_training=training)
    frame = predictor.predict_table(comps, level=level, risk=risk)
    frame.insert(0, "formula", items)
    if predictor.kind == "named":
        title = f"{predictor.quantity} from the named model {predictor.name}"
    else:
        card = read_card(predictor.path)
        title = f"{card.target} from {Path(model_file).name} ({card.kind})"
    if "interval method" in frame.attrs:
        title += f"; intervals: {frame.attrs['interval method']}"
    _warn_outside_domain(frame)
    if csv:
        sys.stdout.write(frame.to_csv(index=False, float_format="%.4g"))
        return
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if col == "formula" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(Text(str(row[0])), *(_cell(v) for v in row[1:]))
    out.print(table)


def _cell(value) -> str:
    if type(value).__name__ in ("bool", "bool_"):
        return "yes" if value else "NO"
    return f"{value:.3f}"


def _warn_outside_domain(frame) -> None:
    """One line on stderr naming the formulas outside the model's domain, and why."""
    if "in domain" not in frame.columns or frame["in domain"].all():
        return
    why = frame.attrs.get("domain reasons", ["outside"] * len(frame))
    reasons = [
        f"{formula} ({reason})"
        for formula, inside, reason in zip(frame["formula"], frame["in domain"], why, strict=True)
        if not inside
    ]
    shown = ", ".join(reasons[:5]) + (f" and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    err.print(
        f"warning: {len(reasons)} of {len(frame)} formula(s) outside the model's domain: {shown}",
        highlight=False,
    )


@app.command("models")
def models_cmd() -> None:
    """List the study's named models: what each predicts, its training data and its file."""
    from bandgaps.models import named

    frame = named.list_models()
    out.print(f"named models (folder {named.models_dir()}):")
    for row in frame.itertuples(index=False):
        built = row.status == "built"
        if built:
            detail = f"built from {row.trained_on}, {int(row.n_train):,} rows, {row.created}"
        elif row.status.startswith("damaged"):
            detail = f"its file is damaged: delete {row.path} and it is trained again on first use"
        else:
            detail = "not built yet: trained on first use (a few minutes)"
        out.print(Text(f"  {row.name}: predicts the {row.predicts}; {detail}"))
        out.print(Text(f"    {row.description}"))


@app.command("predict-structure")
def predict_structure_cmd(
    files: Annotated[list[Path], typer.Argument(help="POSCAR or CIF files")],
    model: Annotated[
        str, typer.Option(help="megnet-2018, megnet-mf or megnet-mf-disorder")
    ] = "megnet-mf",
    fidelity: Annotated[
        str | None, typer.Option(help="pbe, gllb-sc, hse or exp (multi-fidelity models)")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="print CSV instead of a table")] = False,
) -> None:
    """Band gap of crystal structures from a pretrained MEGNet model, ± the ensemble σ."""
    from bandgaps.data.structures import read_structure
    from bandgaps.models.megnet import fidelity_state, get_family
    from bandgaps.models.predictor import resolve

    family = get_family(model)
    fidelity_state(fidelity, family)  # a bad name fails before TensorFlow starts
    structures = [read_structure(f) for f in files]
    predictor = resolve(f"{model}:{fidelity}" if fidelity else model, structures=True)
    frame = predictor.predict_table(structures)
    frame.insert(0, "formula", [s.composition.reduced_formula for s in structures])
    frame.insert(0, "file", [str(f) for f in files])
    label = f"{model}" + (f" ({fidelity or 'pbe'} fidelity)" if family.fidelity else "")
    if csv:
        sys.stdout.write(frame.to_csv(index=False, float_format="%.4f"))
        return
    table = Table(title=f"{predictor.quantity} from {label}")
    for col in frame.columns:
        table.add_column(str(col), justify="left" if col in ("file", "formula") else "right")
    for row in frame.itertuples(index=False):
        table.add_row(Text(row[0]), Text(row[1]), *(_cell(v) for v in row[2:]))
    out.print(table)


@app.command("screen")
def screen_cmd(
    source: Annotated[
        Path,
        typer.Argument(
            help="formula table (.csv, .parquet) or structures (.xyz/.extxyz, a folder or a "
            ".zip of CIF/POSCAR files)"
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="output folder (Parquet dataset)")],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="named model, model file or MEGNet family[:fidelity]; repeat for several "
            "(default measured-gap; the first one is filtered and ranked)",
        ),
    ] = None,
    gap_min: Annotated[float | None, typer.Option(help="keep rows predicted at least this")] = None,
    gap_max: Annotated[float | None, typer.Option(help="keep rows predicted at most this")] = None,
    top: Annotated[
        int | None, typer.Option(help="also write the N highest predictions to top.parquet")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="address of a running Dask scheduler (tcp://host:port)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="worker processes of the embedded cluster (default: cores)")
    ] = None,
    partition_rows: Annotated[int | None, typer.Option(help="rows per partition")] = None,
    formula_column: Annotated[str, typer.Option(help="formula column of a table")] = "formula",
    id_column: Annotated[
        str | None, typer.Option(help="a table's id column, copied to the output")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="start again in a folder that holds a different screen")
    ] = False,
    level: Annotated[
        list[float] | None,
        typer.Option(
            "--level",
            help="coverage of the conformal intervals of the models that have them (default "
            "0.9; repeat for several)",
        ),
    ] = None,
) -> None:
    """Screen any number of formulas or structures with one or more models, on Dask.

    Runs on an embedded local cluster, or on a running one with --scheduler. A run that stops
    continues where it stopped when started again with the same arguments. Rows that cannot be
    predicted go to the errors table with their reason.
    """
    from bandgaps.screening import open_source, screen

    src = open_source(source, formula_column, id_column)
    if src.ignored:
        err.print(
            f"ignoring {len(src.ignored):,} files that are not CIF, POSCAR or XYZ "
            f"(first: {src.ignored[0]})"
        )

    def training(name: str) -> None:
        err.print(f"training the named model {name!r} once (a few minutes)…")

    report = screen(
        src,
        model or ["measured-gap"],
        out_dir,
        gap_min=gap_min,
        gap_max=gap_max,
        top=top,
        scheduler=scheduler,
        workers=workers,
        partition_rows=partition_rows,
        formula_column=formula_column,
        id_column=id_column,
        overwrite=overwrite,
        on_training=training,
        level=level or None,
    )
    resumed = (
        f", {report.resumed} of {report.partitions} partitions resumed" if report.resumed else ""
    )
    workers_text = f"{report.workers} worker" + ("s" if report.workers != 1 else "")
    out.print(
        f"screened {report.rows:,} rows on {workers_text} in {report.seconds:.1f} s "
        f"({report.rows_per_second:,.0f} rows/s{resumed}): {report.predicted:,} predicted, "
        f"{report.errors:,} errors, {report.kept:,} kept"
        + (f", {report.filtered:,} outside the window" if report.filtered else "")
    )
    out.print(f"predictions: {out_dir / 'predictions'}  errors: {out_dir / 'errors'}")
    if top is not None:
        import pandas as pd

        best = pd.read_parquet(out_dir / "top.parquet")
        shown = [c for c in ("row", "id", "name", "formula") if c in best.columns]
        shown += report.models
        table = Table(title=f"top {len(best)} by {report.models[0]} (all columns: top.parquet)")
        for col in shown:
            table.add_column(
                str(col), justify="left" if col in {"formula", "name", "id"} else "right"
            )
        for row in best[shown].itertuples(index=False):
            table.add_row(*(f"{v:.3f}" if isinstance(v, float) else Text(str(v)) for v in row))
        out.print(table)


@app.command("supercells")
def supercells_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the cells and the table")],
    system: Annotated[str, typer.Option(help="alloy system (Si-Ge)")] = "Si-Ge",
    method: Annotated[str, typer.Option(help="enumerate, sqs or random")] = "enumerate",
    max_atoms: Annotated[int, typer.Option(help="enumerate: largest cell (atoms)")] = 8,
    x: Annotated[
        list[float] | None, typer.Option(help="sqs/random: Ge fractions (repeat the option)")
    ] = None,
    size: Annotated[int, typer.Option(help="random: cell size, 8·n³ atoms")] = 64,
    seeds: Annotated[int, typer.Option(help="random: cells per x")] = 3,
    scale: Annotated[str, typer.Option(help="vegard or none (keep the Si lattice)")] = "vegard",
    fmt: Annotated[str, typer.Option("--format", help="cif or extxyz")] = "cif",
    model: Annotated[
        str | None, typer.Option(help="also predict with megnet-2018 or megnet-mf")
    ] = None,
    fidelity: Annotated[str | None, typer.Option(help="fidelity for megnet-mf")] = None,
) -> None:
    """Build Si–Ge cells (icet enumeration, SQS, random), write them and a table."""
    import numpy as np

    from bandgaps.files import atomic_folder
    from bandgaps.structures import alloys

    if system.replace("–", "-").lower() != "si-ge":
        raise OptionError(f"Only the Si-Ge system is built here, not {system!r}")
    if method not in {"enumerate", "sqs", "random"}:
        raise OptionError(f"--method must be enumerate, sqs or random, not {method!r}")
    if scale not in {"vegard", "none"}:
        raise OptionError(f"--scale must be vegard or none, not {scale!r}")
    if fmt not in {"cif", "extxyz"}:
        raise OptionError(f"--format must be cif or extxyz, not {fmt!r}")
    bad_x = [v for v in x or [] if not 0 <= v <= 1]
    if bad_x:
        raise OptionError(f"--x must be a Ge fraction from 0 to 1, not {bad_x[0]}")
    if method == "enumerate" and not 2 <= max_atoms <= 16:
        # the diamond lattice's primitive cell holds two atoms: the smallest cell there is
        raise OptionError(f"--max-atoms must be from 2 to 16, not {max_atoms}")
    if method == "random":
        reps = round((size / 8) ** (1 / 3)) if 0 < size <= MAX_RANDOM_ATOMS else 0
        if reps < 1 or 8 * reps**3 != size:
            raise OptionError(
                f"--size must be 8·n³ atoms (8, 64, 216, … up to {MAX_RANDOM_ATOMS:,}), not {size}"
            )
        if not 1 <= seeds <= MAX_SEEDS:
            raise OptionError(f"--seeds must be from 1 to {MAX_SEEDS:,}, not {seeds}")
    _check_cells_folder(out_dir)
    if model is not None:
        from bandgaps.models.megnet import fidelity_state, get_family

        fidelity_state(fidelity, get_family(model))
    grid = x or [round(v, 2) for v in np.arange(0.1, 0.91, 0.1)]
    if method == "enumerate":
        cells = alloys.enumerated_cells(max_atoms, scale=scale)
    elif method == "sqs":
        cells = alloys.sqs_cells(grid, scale=scale)
    elif method == "random":
        cells = alloys.random_cells(grid, sizes=(size,), n_seeds=seeds, scale=scale)
    else:
        raise OptionError(f"--method must be enumerate, sqs or random, not {method!r}")
    table = cells.drop(columns="structure")
    if model is not None:
        from bandgaps.models.megnet import PretrainedEnsemble

        mean, std = PretrainedEnsemble(model).predict(
            list(cells["structure"]), fidelity, return_std=True
        )
        table["gap_eV"] = mean
        table["sigma_eV"] = std
    # the whole folder is written aside and then put in place: a failed run leaves nothing,
    # and a folder written before holds no stale cell beside the new table
    with atomic_folder(out_dir) as folder:
        paths = alloys.write_cells(cells, folder, fmt=fmt)
        table.insert(cells.shape[1] - 1, "file", [p.name for p in paths])
        table.to_csv(folder / "cells.csv", index=False, float_format="%.5g")
    out.print(f"wrote {len(paths):,} {method} cells ({fmt}) and cells.csv to {out_dir}")


def _check_cells_folder(out_dir: Path) -> None:
    """``supercells --out``: a new or empty folder, or one written by ``supercells`` before
    (cells.csv and the cells it lists, nothing else), which the new cells replace."""
    import pandas as pd

    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OptionError(f"--out {out_dir} is a file; name a folder for the cells")
    present = {p.name for p in out_dir.iterdir()}
    if not present:
        return
    listed: set[str] = set()
    if "cells.csv" in present:
        try:
            listed = set(pd.read_csv(out_dir / "cells.csv", usecols=["file"])["file"].astype(str))
        except (OSError, ValueError):
            listed = set()
    if not listed or present - listed - {"cells.csv"}:
        raise OptionError(
            f"--out {out_dir} holds files that `supercells` did not write; name a new or empty "
            "folder (a folder of earlier cells is replaced whole)"
        )


def _check_output_file(path: Path) -> None:
    """An output file the command can write: not a folder, in a folder that exists and that
    this user may write to (checked before any work, so nothing is computed in vain)."""
    import os

    if path.is_dir():
        raise BandgapsError(f"--out {path} is a folder; name a file such as {path / 'gap.model'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BandgapsError(f"--out {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise BandgapsError(f"--out {path}: the folder {parent} is not writable")


def _formulas_from_csv(file: Path) -> list[str]:
    from bandgaps.data.formulas import read_formula_csv

    return [str(f) for f in read_formula_csv(file, what="Formula file")["formula"]]


def _print_fields(title: str, fields: dict[str, str]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in fields.items():
        table.add_row(key, Text(value))
    out.print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bandgaps`` script; returns the exit status.

    0: done; 1: the input cannot be used (one line on stderr starting with ``error:``); 2: the
    command line itself is wrong (one line too). Nothing else reaches the user: an unexpected
    exception is reported in one line as well (and is a bug to report).
    """
    from typer._click import exceptions as click  # typer 0.29 carries its own click

    command = _command()
    try:
        result = command.main(args=argv, prog_name="bandgaps", standalone_mode=False)
    except OptionError as exc:  # a value outside its range or choices: as a parse error
        return _fail(str(exc), 2)
    except BandgapsError as exc:
        return _fail(str(exc), 1)
    except click.NoArgsIsHelpError:  # the help is already on stdout
        return 2
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        return _fail(exc.format_message() + hint, 2)
    except click.ClickException as exc:
        return _fail(exc.format_message(), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 1)
    except OSError as exc:  # a file or folder the system refused: name it and say why
        return _fail(_os_error_text(exc), 1)
    except Exception as exc:  # a bug: still one line for the user, with what to report
        detail = str(exc).splitlines()[0][:200] if str(exc).strip() else ""
        return _fail(f"unexpected {type(exc).__name__}: {detail} (please report this)", 1)
    return result if isinstance(result, int) else 0


@functools.cache
def _command():
    """The click command of ``app``, built once per process (building it inspects every
    command's signature: half the time of a quick ``predict``)."""
    return typer.main.get_command(app)


def _os_error_text(exc: OSError) -> str:
    """``Permission denied: /data/out`` and the like, with a hint for the usual causes."""
    what = exc.strerror or type(exc).__name__
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    text = f"{what}: {' → '.join(files)}" if files else f"{what} ({exc})"
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        text += " (a file stands where a folder is needed: check --out, BANDGAPS_CACHE and "
        text += "BANDGAPS_MODELS)"
    elif isinstance(exc, PermissionError):
        text += " (choose a folder you may write to)"
    return text


def _fail(message: str, code: int) -> int:
    text = " ".join(message.split())  # one line, whatever the message held
    print(f"error: {text}", file=sys.stderr)
    return code


def run() -> None:
    """Console-script wrapper: exit with ``main``'s status."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
