"""The live-query code path, end to end: the real mp-api ``MPRester`` against a stand-in MP
server on 127.0.0.1 (tests/mp_standin.py). Nothing of our own is mocked."""

import json
import socket
import time

import pytest
from mp_standin import DB_VERSION, GOOD_KEY, StandInMP, documents_from_snapshot

from bandgaps.data.mp_query import MPQuery, check_reachable, fetch_snapshot, query_mp
from bandgaps.data.tables import load_table
from bandgaps.errors import MPAuthError, MPQueryError


@pytest.fixture(scope="module")
def docs(mp_frame):
    """Seven real snapshot rows (a few metals, a few non-metals) as summary documents."""
    rows = mp_frame.groupby(mp_frame["band_gap"] > 0, group_keys=False).head(4).head(7)
    return documents_from_snapshot(rows)


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_paginated_query_writes_a_snapshot_the_catalog_reads(docs, tmp_path):
    out = tmp_path / "snap" / "mp.json.gz"
    with StandInMP(docs) as mp:
        record = fetch_snapshot(
            out, MPQuery(), api_key=GOOD_KEY, endpoint=mp.url, chunk_size=3, progress=False
        )
        pages = mp.summary_requests()
    # more rows than one page: the client walked the pages with _skip/_limit
    assert [p.get("_skip") for p in pages] == [None, "3", "6"]
    assert {p["_limit"] for p in pages} == {"3", "1"}
    first = pages[0]
    assert first["has_props"] == "bandstructure"
    assert (first["nelements_min"], first["nelements_max"]) == ("2", "2")
    assert float(first["energy_above_hull_max"]) == 0.01
    assert "structure" in first["_fields"].split(",")
    assert _files(out.parent) == ["mp.json.gz", "mp.json.gz.provenance.json"]

    prov = json.loads((out.parent / "mp.json.gz.provenance.json").read_text())
    assert prov["rows"] == 7 and prov["db_version"] == DB_VERSION
    assert prov["criteria"]["has_props"] == ["bandstructure"]
    assert prov["sha256"] == record["sha256"]
    assert prov["retrieved_at"].startswith(time.strftime("%Y-"))

    back = load_table(str(out))
    assert back["formula"].tolist() == [d["formula_pretty"] for d in docs]
    assert back["band_gap"].tolist() == [d["band_gap"] for d in docs]
    assert back["material_id"].tolist() == [d["material_id"] for d in docs]
    assert back["structure"].iloc[0].composition.reduced_formula == back["formula"].iloc[0]


def test_query_returns_rows_and_database_version(docs):
    with StandInMP(docs) as mp:
        frame, info = query_mp(MPQuery(), api_key=GOOD_KEY, endpoint=mp.url, progress=False)
    assert len(frame) == len(docs) and info["db_version"] == DB_VERSION
    assert {"e_above_hull", "final_structure", "material_id"} <= set(frame.columns)


def test_server_error_is_reported_and_nothing_is_written(docs, tmp_path):
    with StandInMP(docs, mode="error500") as mp, pytest.raises(MPQueryError) as err:
        fetch_snapshot(tmp_path / "mp.json.gz", api_key=GOOD_KEY, endpoint=mp.url, progress=False)
    assert "HTTP 500" in str(err.value)
    assert _files(tmp_path) == []


def test_empty_result_is_an_error_not_an_empty_snapshot(docs, tmp_path):
    with StandInMP(docs, mode="empty") as mp, pytest.raises(MPQueryError, match="no materials"):
        fetch_snapshot(tmp_path / "mp.json.gz", api_key=GOOD_KEY, endpoint=mp.url, progress=False)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_says_how_to_fix_it(docs, tmp_path, status):
    with StandInMP(docs, reject_status=status) as mp, pytest.raises(MPAuthError) as err:
        fetch_snapshot(tmp_path / "mp.json.gz", api_key="x" * 32, endpoint=mp.url, progress=False)
    assert f"HTTP {status}" in str(err.value) and "MP_API_KEY" in str(err.value)
    assert _files(tmp_path) == []


def test_missing_key_fails_before_any_request(docs, monkeypatch, tmp_path):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with StandInMP(docs) as mp:
        with pytest.raises(MPAuthError, match="MP_API_KEY is not set"):
            fetch_snapshot(tmp_path / "mp.json.gz", endpoint=mp.url, progress=False)
        assert mp.requests == []


def test_malformed_key_is_refused(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "short")
    with pytest.raises(MPAuthError, match="32"):
        query_mp(MPQuery(), endpoint="http://127.0.0.1:9/")


def test_unreachable_endpoint_fails_within_seconds():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(MPQueryError, match="Cannot reach"):
        query_mp(MPQuery(), api_key=GOOD_KEY, endpoint=f"http://127.0.0.1:{port}/")
    assert time.monotonic() - start < 10


def test_reachability_check_goes_through_a_configured_proxy(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(MPQueryError) as err:
        check_reachable("http://mp.example.invalid/", timeout=2)
    assert "ConnectionRefused" in str(err.value)  # the proxy was tried, not the unknown host
