import pandas as pd
from pymatgen.core import Lattice, Structure

from bandgaps.data.cleaning import (
    cleaning_report,
    drop_isolated_atoms,
    dropped_rows,
    isolated_site_mask,
    keep_lowest_energy_polymorph,
)
from bandgaps.data.tables import composition_model_table


def _row(structure, e_hull, gap):
    return {
        "formula": structure.composition.reduced_formula,
        "structure": structure,
        "e_above_hull": e_hull,
        "band_gap": gap,
    }


def test_lowest_energy_polymorph_is_kept_per_formula():
    rock = Structure(Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    other = Structure(Lattice.cubic(3.0), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    si = Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])
    df = pd.DataFrame([_row(other, 0.008, 4.0), _row(si, 0.0, 0.6), _row(rock, 0.0, 4.5)])
    out = keep_lowest_energy_polymorph(df)
    assert out["band_gap"].tolist() == [0.6, 4.5]  # input order kept, MgO ground state chosen
    report = cleaning_report(out)
    assert report.loc[0, "removed"] == 1 and report.loc[0, "before"] == 3


def test_structures_with_an_atom_beyond_4_angstrom_are_dropped():
    bulk = Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])
    # a Si2 dimer 2.3 Å long plus a lone Na atom far from everything in a 12 Å box
    boxed = Structure(
        Lattice.cubic(12.0), ["Si", "Si", "Na"], [[0, 0, 0], [0.19, 0, 0], [0.5, 0.5, 0.5]]
    )
    assert isolated_site_mask(boxed).tolist() == [False, False, True]
    assert not isolated_site_mask(bulk).any()
    df = pd.DataFrame([_row(bulk, 0, 0.6), _row(boxed, 0, 1.0)])
    out = drop_isolated_atoms(df)
    assert out["formula"].tolist() == ["Si"]
    assert cleaning_report(out).loc[0, "removed"] == 1
    assert dropped_rows(out, "drop_isolated_atoms") == (1,)


def test_cleaning_the_real_snapshot_reports_each_rule(mp_frame):
    clean = composition_model_table(mp_frame)
    report = cleaning_report(clean)
    assert report["rule"].tolist() == ["drop_isolated_atoms", "keep_lowest_energy_polymorph"]
    assert report.loc[0, "before"] == 5909
    assert report.loc[1, "after"] == len(clean) == clean["formula"].nunique()
    assert 0 < report.loc[0, "removed"] < 100  # a few dozen loose alkali structures
    assert report.loc[1, "removed"] == report.loc[1, "before"] - clean["formula"].nunique()
    # every kept row is the lowest-energy polymorph among the structures that survived rule 1
    isolated = [
        i
        for i, s in zip(mp_frame.index, mp_frame["structure"], strict=True)
        if isolated_site_mask(s).any()
    ]
    assert list(dropped_rows(clean, "drop_isolated_atoms")) == isolated
    survivors = mp_frame.drop(index=isolated)
    best = survivors.groupby("formula")["e_above_hull"].min()
    assert (clean.set_index("formula")["e_above_hull"] == best.loc[clean["formula"]].values).all()
