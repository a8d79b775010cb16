"""The live Materials Project query (``mp_api.client.MPRester``) and the snapshot it writes.

The query asks the summary endpoint for materials whose band structure was computed with the
high-quality line-mode workflow (``has_props=["bandstructure"]``, the successor of the legacy
``{"has": "bandstructure"}``): other MP band gaps come from loose uniform k-grids, a covariate
shift the models should not learn. The result is written in the format the catalog reads
(matminer's split JSON, gzipped) together with a provenance record — criteria, fields, date,
database version, row count and sha256 — both atomically.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import urllib.request
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from bandgaps.data.catalog import PROVENANCE_SUFFIX
from bandgaps.errors import MPAuthError, MPQueryError
from bandgaps.files import atomic_path, sha256_file, write_json_atomic

API_KEY_ENV = "MP_API_KEY"
ENDPOINT_ENV = "MP_API_ENDPOINT"
DEFAULT_ENDPOINT = "https://api.materialsproject.org/"
KEY_HELP = (
    f"Get a key from your dashboard at https://next-gen.materialsproject.org/api "
    f"(free account) and export it: export {API_KEY_ENV}=<your 32-character key>"
)

#: Fields requested from the summary endpoint: what cleaning and the later analyses need.
DEFAULT_FIELDS = (
    "material_id",
    "formula_pretty",
    "nelements",
    "nsites",
    "band_gap",
    "is_gap_direct",
    "is_metal",
    "energy_above_hull",
    "formation_energy_per_atom",
    "theoretical",
    "structure",
)


@dataclass(frozen=True)
class MPQuery:
    """Criteria of a summary search; defaults reproduce the shared snapshot's selection.

    Attributes:
        has_props: properties a material must have (``bandstructure``: the line-mode band
            structure workflow ran, so the gap is not from a loose k-grid).
        nelements: the least and most elements (``None``: any).
        energy_above_hull: the range in eV/atom (``None``: any).
        deprecated: include deprecated materials.
        fields: the fields fetched.

    Examples:
        >>> MPQuery().search_kwargs()["has_props"]
        ['bandstructure']
        >>> MPQuery(nelements=None, energy_above_hull=None).search_kwargs()["energy_above_hull"]
        Traceback (most recent call last):
        ...
        KeyError: 'energy_above_hull'
    """

    has_props: tuple[str, ...] = ("bandstructure",)
    nelements: tuple[int, int] | None = (2, 2)
    energy_above_hull: tuple[float, float] | None = (0.0, 0.01)
    deprecated: bool = False
    fields: tuple[str, ...] = field(default=DEFAULT_FIELDS)

    def search_kwargs(self) -> dict:
        """Keyword arguments for ``MPRester().materials.summary.search``."""
        kwargs: dict = {
            "has_props": list(self.has_props),
            "deprecated": self.deprecated,
            "fields": list(self.fields),
        }
        if self.nelements is not None:
            kwargs["nelements"] = tuple(self.nelements)
        if self.energy_above_hull is not None:
            kwargs["energy_above_hull"] = tuple(self.energy_above_hull)
        return kwargs


def resolve_api_key(api_key: str | None = None) -> str:
    """The API key given, or ``$MP_API_KEY``.

    Args:
        api_key: a key, or ``None`` to read the variable.

    Returns:
        The key.

    Raises:
        MPAuthError: there is none, with where to get one.
    """
    key = (api_key or os.environ.get(API_KEY_ENV, "")).strip()
    if not key:
        raise MPAuthError(f"No Materials Project API key: {API_KEY_ENV} is not set. {KEY_HELP}")
    if len(key) != 32:
        raise MPAuthError(
            f"{API_KEY_ENV} does not look like a Materials Project API key "
            f"(it has {len(key)} characters, keys have 32). {KEY_HELP}"
        )
    return key


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The endpoint given, or ``$MP_API_ENDPOINT``, or the public API.

    Args:
        endpoint: an address, or ``None``.

    Returns:
        The address, ending with ``/``.
    """
    url = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    return url if url.endswith("/") else url + "/"


def check_reachable(endpoint: str, timeout: float = 5.0) -> None:
    """Fail within ``timeout`` seconds, with a clear message, when the endpoint cannot be reached.

    mp-api's first request (the heartbeat) has no timeout of its own, so an offline machine could
    otherwise wait on DNS or a dropped connection for minutes.

    Args:
        endpoint: the API's address.
        timeout: seconds to wait.

    Raises:
        MPQueryError: the endpoint cannot be reached in time.
    """
    parsed = urlparse(endpoint)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy and not urllib.request.proxy_bypass(host):  # requests will go through the proxy
        proxied = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname or "", proxied.port or 8080
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except BaseException as exc:  # reported to the caller below
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not outcome or outcome[0] is not None:
        reason = "timed out" if not outcome else f"{type(outcome[0]).__name__}: {outcome[0]}"
        raise MPQueryError(
            f"Cannot reach the Materials Project API at {endpoint} ({reason}). This machine may be "
            "offline: the pinned snapshot 'mp-bandstructure-binaries' in the shared folder works "
            "without a network (`bandgaps data info mp-bandstructure-binaries`)."
        )


_STATUS = re.compile(r"status code (\d{3})")


def _translate(exc: Exception, endpoint: str) -> MPQueryError:
    """Turn mp-api's errors into one-line messages that say what to do."""
    text = str(exc)
    match = _STATUS.search(text)
    status = int(match.group(1)) if match else None
    if status in (401, 403):
        return MPAuthError(
            f"The Materials Project rejected the API key (HTTP {status}). "
            f"Check {API_KEY_ENV}. {KEY_HELP}"
        )
    if status is not None:
        first = text.strip().splitlines()[-1][:300]
        return MPQueryError(
            f"The Materials Project API at {endpoint} answered HTTP {status}: "
            f"{first}. Try again later."
        )
    if "32 characters" in text:
        return MPAuthError(f"Invalid API key. {KEY_HELP}")
    return MPQueryError(
        f"Materials Project query failed: {type(exc).__name__}: "
        f"{text.strip().splitlines()[0] if text.strip() else ''}"
    )


def query_mp(
    query: MPQuery = MPQuery(),
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    chunk_size: int = 1000,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Run the summary search with the real ``mp-api`` client.

    Args:
        query: the criteria.
        api_key: the key (default ``$MP_API_KEY``).
        endpoint: the API's address (default ``$MP_API_ENDPOINT`` or the public API).
        chunk_size: documents per request.
        progress: draw a progress bar.

    Returns:
        ``(rows, info)``: one row per material in snapshot format (``material_id``,
        ``formula_pretty``, ``band_gap``, ``e_above_hull``, ``final_structure`` …), and the
        database's and client's versions for the provenance record.
    """
    key = resolve_api_key(api_key)
    url = resolve_endpoint(endpoint)
    check_reachable(url)
    from importlib.metadata import version

    from mp_api.client import MPRester
    from mp_api.client.core.client import MPRestError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with MPRester(api_key=key, endpoint=url, mute_progress_bars=not progress) as mpr:
                db_version = mpr.db_version
                docs = mpr.materials.summary.search(chunk_size=chunk_size, **query.search_kwargs())
    except MPRestError as exc:
        raise _translate(exc, url) from None
    except OSError as exc:  # requests' ConnectionError and friends
        raise MPQueryError(f"Lost the connection to {url}: {exc}") from None
    if not docs:
        raise MPQueryError(
            f"The query matched no materials at {url} "
            f"(criteria: {query.search_kwargs()}); nothing was written."
        )
    rows = [_doc_to_row(doc, query.fields) for doc in docs]
    frame = pd.DataFrame(rows).rename(
        columns={"energy_above_hull": "e_above_hull", "structure": "final_structure"}
    )
    info = {
        "endpoint": url,
        "db_version": db_version or "unknown",
        "mp_api_version": version("mp-api"),
        "emmet_core_version": version("emmet-core"),
        "pymatgen_version": version("pymatgen"),
    }
    return frame, info


def _doc_to_row(doc, fields: tuple[str, ...]) -> dict:
    row = {}
    for name in fields:
        value = doc[name] if isinstance(doc, dict) else getattr(doc, name, None)
        if name == "material_id" and value is not None:
            value = str(value)
        row[name] = value
    return row


def fetch_snapshot(
    out: str | Path,
    query: MPQuery = MPQuery(),
    *,
    dataset: str = "",
    api_key: str | None = None,
    endpoint: str | None = None,
    chunk_size: int = 1000,
    progress: bool = True,
) -> dict:
    """Query MP and write ``out`` (``.json.gz``) plus ``out.provenance.json``.

    Both files are written to temporary names and renamed, so a failed query or an interrupted
    write never leaves a partial snapshot.

    Args:
        out: the snapshot file (``.json.gz``).
        query: the criteria.
        dataset: the catalog name it renews, kept in the record.
        api_key: the key (default ``$MP_API_KEY``).
        endpoint: the API's address.
        chunk_size: documents per request.
        progress: draw a progress bar.

    Returns:
        The provenance record (query, date, database version, rows, sha256).
    """
    from matminer.utils.io import store_dataframe_as_json

    out = Path(out)
    if not out.name.endswith(".json.gz"):
        raise MPQueryError(f"Snapshot file names end with .json.gz, got {out.name}")
    started = datetime.now(UTC)
    frame, info = query_mp(
        query, api_key=api_key, endpoint=endpoint, chunk_size=chunk_size, progress=progress
    )
    with atomic_path(out, suffix=".json.gz") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            store_dataframe_as_json(frame, str(tmp), compression="gz", pbar=progress)
        sha = sha256_file(tmp)
    record = {
        "dataset": dataset or out.name,
        "file": out.name,
        "source": "Materials Project API, summary endpoint (mp_api.client.MPRester)",
        "criteria": {k: v for k, v in asdict(query).items() if k != "fields"},
        "fields": list(query.fields),
        "retrieved_at": started.isoformat(timespec="seconds"),
        **info,
        "rows": len(frame),
        "metals": int((frame["band_gap"] == 0).sum()) if "band_gap" in frame else None,
        "sha256": sha,
    }
    write_json_atomic(Path(str(out) + PROVENANCE_SUFFIX), record)
    return record
