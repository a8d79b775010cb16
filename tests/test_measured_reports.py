"""Every report of Zhuo et al. 2018, one row per composition: what the named measured-gap
model learns from beyond Matbench's ``expt_gap``."""

from __future__ import annotations

import numpy as np
import pytest

from bandgaps.analyses import measured_reports as MR


@pytest.fixture(scope="module")
def reports():
    return MR.report_table()


def test_the_report_table_holds_every_composition_once_with_its_median(reports):
    """One row per composition: those Matbench kept (its 4,604 rows hold 4,600 distinct
    compositions) and the rest, whose reports spread by more than 0.1 eV; the typo row is
    listed as dropped, not lost."""
    from bandgaps.analyses.matbench import TASKS
    from bandgaps.data.tables import load_table
    from bandgaps.models.transfer import composition_key

    raw = load_table(MR.REPORTS)
    keys = {str(composition_key(c)) for c in raw["composition"]}
    kept = {str(composition_key(c)) for c in TASKS["expt_gap"].load()["composition"]}
    assert len(reports) == len(keys | kept)
    assert reports["in matbench"].sum() == len(kept) > 4500
    assert [d["formula"] for d in reports.attrs["dropped"]] == ["GaAs0.1P0.9G1128"]
    assert reports["reports"].sum() == len(raw) + len(reports.attrs["from matbench"])
    assert len(reports.attrs["from matbench"]) == len(kept - keys) == 1
    dropped = reports[~reports["in matbench"]]
    assert len(dropped) >= 310 and (dropped["spread"] >= 0.1 - 1e-9).all()
    kept = reports[reports["in matbench"]]
    # Matbench grouped formula strings: a few compositions it kept under two spellings
    # (SeTe and Se0.5Te0.5) spread more when their reports are joined
    assert (kept["spread"] > 0.1 + 1e-9).sum() <= 5
    gaas = reports.set_index("formula").loc["GaAs"]
    assert not gaas["in matbench"] and gaas["reports"] > 1
    key = str(composition_key("GaAs"))
    mine = raw[[str(composition_key(c)) == key for c in raw["composition"]]]
    assert gaas["target"] == pytest.approx(float(np.median(mine["target"])))
    for formula in MR.NAMED_DROPPED:
        assert formula in set(dropped["formula"])


def test_an_element_is_outside_a_domain_trained_on_compounds():
    from pymatgen.core import Composition

    from bandgaps.models.domain import ApplicabilityDomain

    rng = np.random.default_rng(0)
    F = rng.normal(size=(80, 3))
    comps = [Composition("NaCl"), Composition("KBr"), Composition("Al2O3")] * 27
    dom = ApplicabilityDomain().fit(F[:60], comps[:60])
    dom.calibrate(F[60:], np.ones(20), np.abs(F[60:, 0]))
    asked = [Composition("Na"), Composition("NaBr"), Composition("NaKClBr")]
    out = dom.assess(F[:3], asked, [1] * 3)
    assert list(out["in domain"]) == [False, True, False]
    fields, arrays = dom.state()
    again = ApplicabilityDomain.from_state(fields, arrays)
    assert list(again.assess(F[:1], [Composition("K")], [1])["in domain"]) == [False]
    fields["n_elements_"] = [3, True]
    with pytest.raises(Exception, match="malformed"):
        ApplicabilityDomain.from_state(fields, arrays)
