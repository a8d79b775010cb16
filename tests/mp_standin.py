"""A stand-in for the Materials Project API on 127.0.0.1, for testing the real ``MPRester``.

It answers the two routes the summary search uses — ``GET /heartbeat`` and
``GET /materials/summary/`` — in the shape the MP API does: ``{"data": [...], "meta":
{"total_doc": N}}`` pages driven by ``_limit``/``_skip``, fields chosen by ``_fields``, range
filters as ``<field>_min``/``<field>_max``. Documents are real rows of the shared MP snapshot;
their material ids are made up (``mp-900000+i``) because the snapshot stored none.

``mode`` switches the failure cases: ``"ok"``, ``"error500"``, ``"empty"``; a request whose
``x-api-key`` differs from ``api_key`` gets ``reject_status`` (403 as from the real API, or 401).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

GOOD_KEY = "k" * 32
DB_VERSION = "2025.09.25-standin"


def documents_from_snapshot(frame: pd.DataFrame) -> list[dict]:
    """Summary documents built from snapshot rows (structure as a pymatgen dict)."""
    docs = []
    for i, row in enumerate(frame.itertuples(index=False)):
        s = row.structure
        docs.append(
            {
                "material_id": f"mp-{900000 + i}",
                "formula_pretty": s.composition.reduced_formula,
                "nelements": len(s.composition.elements),
                "nsites": len(s),
                "band_gap": float(row.band_gap),
                "is_gap_direct": False,
                "is_metal": bool(row.band_gap == 0),
                "energy_above_hull": float(row.e_above_hull),
                "formation_energy_per_atom": None,
                "theoretical": False,
                "deprecated": False,
                "has_props": {"bandstructure": True, "electronic_structure": True},
                "structure": s.as_dict(),
            }
        )
    return docs


class StandInMP:
    """Run the stand-in server in a thread: ``with StandInMP(docs) as mp: mp.url``."""

    def __init__(
        self, docs: list[dict], api_key: str = GOOD_KEY, mode: str = "ok", reject_status: int = 403
    ):
        self.docs = docs
        self.api_key = api_key
        self.mode = mode
        self.reject_status = reject_status
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def summary_requests(self) -> list[dict]:
        """The query parameters of every summary request received, in order."""
        return [r["params"] for r in self.requests if r["path"].startswith("/materials/summary")]

    def __enter__(self) -> StandInMP:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _select(self, params: dict[str, str]) -> list[dict]:
        docs = self.docs
        wanted = params.get("has_props")
        if wanted:
            docs = [d for d in docs if all(d["has_props"].get(p) for p in wanted.split(","))]
        if "deprecated" in params:
            flag = params["deprecated"].lower() == "true"
            docs = [d for d in docs if d["deprecated"] == flag]
        for key, value in params.items():
            for suffix, keep in (("_min", lambda a, b: a >= b), ("_max", lambda a, b: a <= b)):
                if key.endswith(suffix) and key[: -len(suffix)] in (docs[0] if docs else {}):
                    name = key[: -len(suffix)]
                    docs = [d for d in docs if d[name] is not None and keep(d[name], float(value))]
        return docs

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                parsed = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                outer.requests.append(
                    {
                        "path": parsed.path,
                        "params": params,
                        "api_key": self.headers.get("x-api-key"),
                    }
                )
                if parsed.path.rstrip("/") == "/heartbeat":
                    return self._send(
                        200,
                        {
                            "db_version": DB_VERSION,
                            "version": "0.87.3",
                            "access_controlled_batch_ids": [],
                        },
                    )
                if not parsed.path.startswith("/materials/summary"):
                    return self._send(404, {"detail": "Not Found"})
                if self.headers.get("x-api-key") != outer.api_key:
                    return self._send(outer.reject_status, {"detail": "Invalid API key"})
                if outer.mode == "error500":
                    return self._send(500, {"detail": "Internal Server Error"})
                docs = [] if outer.mode == "empty" else outer._select(params)
                skip = int(params.get("_skip", 0))
                limit = int(params.get("_limit", 1000))
                page = docs[skip : skip + limit]
                fields = params.get("_fields")
                if fields:
                    names = fields.split(",")
                    page = [{k: d[k] for k in names if k in d} for d in page]
                return self._send(
                    200, {"data": page, "meta": {"total_doc": len(docs), "max_limit": 1000}}
                )

        return Handler
