"""The array graph builder against megnet's own converter and batch generator."""

import numpy as np
import pytest

from bandgaps.errors import InputError
from bandgaps.models import graphs
from bandgaps.models.megnet import (
    GraphInputs,
    PretrainedEnsemble,
    converter_key,
    get_family,
    load_graph_model,
)


@pytest.fixture(scope="module")
def snapshot_structures():
    from bandgaps.data.tables import load_table

    return list(load_table("mp-bandstructure-binaries")["structure"])


@pytest.fixture(scope="module", params=["megnet-2018", "megnet-mf"])
def model(request):
    return load_graph_model(get_family(request.param).entries[0])


def test_same_bonds_and_distances_as_megnet_on_every_snapshot_structure(snapshot_structures, model):
    gc = model.graph_converter
    assert graphs.supports(gc)
    cutoff = gc.nn_strategy.cutoff
    refused = 0
    for k, structure in enumerate(snapshot_structures):
        where = f"structure {k} ({structure.composition.reduced_formula})"
        try:
            theirs = gc.convert(structure)
        except RuntimeError:  # no bond within the cutoff: megnet refuses it, and so do we
            with pytest.raises(InputError, match="no two atoms lie within"):
                graphs.crystal_graph(structure, cutoff)
            refused += 1
            continue
        ours = graphs.crystal_graph(structure, cutoff)
        assert ours.numbers.tolist() == list(theirs["atom"]), where
        assert np.array_equal(ours.index1, theirs["index1"]), where
        assert np.array_equal(ours.index2, theirs["index2"]), where
        assert np.allclose(ours.distances, theirs["bond"], rtol=0, atol=1e-6), where
    assert refused < len(snapshot_structures) / 100


def test_same_batches_and_predictions_as_megnet(snapshot_structures, model, request):
    # every 10th structure: ~590 structures of 1–100+ atoms, three batches of 256
    chosen = [s for s in snapshot_structures[::10] if _has_bonds(s, model)]
    fast = GraphInputs(model, chosen, batch_size=256)
    slow = GraphInputs(model, chosen, batch_size=256, fast=False)
    assert len(fast.batches) == len(slow.batches) == 3
    assert np.array_equal(fast.n_atoms, slow.n_atoms)
    for ours, theirs in zip(fast.batches, slow.batches, strict=True):
        assert [a.shape for a in ours] == [np.asarray(b).shape for b in theirs]
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if k == 1:  # Gaussian-expanded bond lengths (float32 here: the network's own type)
                assert np.allclose(a, b, rtol=0, atol=1e-6)
            else:
                assert a.dtype == np.asarray(b).dtype and np.array_equal(a, b)
    # the whole ensemble on both inputs (the multi-fidelity models with their state set)
    family = request.node.callspec.params["model"]
    ensemble = PretrainedEnsemble(family)
    keys = {converter_key(m) for m in ensemble.members}
    assert keys == {converter_key(model)}
    fidelity = "exp" if get_family(family).fidelity else None
    p_fast = ensemble.predict_members(chosen, fidelity, inputs={converter_key(model): fast})
    p_slow = ensemble.predict_members(chosen, fidelity, inputs={converter_key(model): slow})
    assert np.allclose(p_fast, p_slow, rtol=0, atol=1e-5)


def _has_bonds(structure, model) -> bool:
    try:
        model.graph_converter.convert(structure)
    except RuntimeError:
        return False
    return True


def test_a_structure_without_bonds_is_one_clear_error():
    from pymatgen.core import Lattice, Structure

    lonely = Structure(Lattice.cubic(20.0), ["Si"], [[0, 0, 0]])
    with pytest.raises(InputError, match="no two atoms lie within 4 Å"):
        graphs.crystal_graph(lonely, 4.0)
