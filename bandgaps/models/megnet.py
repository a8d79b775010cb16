"""MEGNet graph networks: the pretrained band-gap models behind one interface.

Three families (the weights are pinned in ``../shared/models/megnet``):

* ``megnet-2018`` — the 2018 PBE band-gap regressor trained on MP 2018.6.1 non-metals, with
  the metal/non-metal classifier beside it (``megnet-2018-classifier``);
* ``megnet-mf`` — six multi-fidelity models (Chen et al., Nat. Comput. Sci. 1, 46 (2021)) for
  ordered structures; the fidelity (``pbe``, ``gllb-sc``, ``hse``, ``exp``) is the graph's
  global state;
* ``megnet-mf-disorder`` — the same for structures with fractional site occupancies.

An ensemble predicts the mean and standard deviation over its members. Structures are turned
into graphs once per graph converter, and the batched inputs (with the Gaussian bond
expansion, the expensive part) are built once and reused by every member and every fidelity.

Examples:
    >>> ens = PretrainedEnsemble("megnet-2018")
    >>> from bandgaps.data import catalog
    >>> si = catalog.load("si-mp-149")["structure"].iloc[0]
    >>> round(float(ens.predict([si])[0]), 3)
    0.765
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bandgaps.errors import InputError, OptionError

#: Fidelity names → the integer global state the multi-fidelity models were trained with.
FIDELITIES = {"pbe": 0, "gllb-sc": 1, "hse": 2, "exp": 3}

#: Largest atomic number with an atom embedding in the pretrained models (megnet's nvocal 95).
MAX_Z = 94

#: What the targets of each fidelity are (``None``: a single-fidelity PBE model).
TRAINED_ON = {None: "PBE", "pbe": "PBE", "gllb-sc": "GLLB-SC", "hse": "HSE", "exp": "experiment"}


@dataclass(frozen=True)
class Family:
    """A named group of pretrained models sharing inputs and meaning.

    Attributes:
        name: what the CLI calls it.
        entries: the catalog entries of its members' weights.
        description: one line for the pages.
        fidelity: whether its members take a fidelity state.
        disordered: whether it reads fractional occupancies.
    """

    name: str
    entries: tuple[str, ...]
    description: str
    fidelity: bool = False
    disordered: bool = False

    def checksums(self) -> dict[str, str]:
        """sha256 of every weight file of the family (cache keys carry them)."""
        from bandgaps.data import catalog

        return {rel: sha for entry in self.entries for rel, sha in catalog.get(entry).files}


FAMILIES = {
    "megnet-2018": Family(
        "megnet-2018",
        ("megnet-2018-band-gap",),
        "2018 MEGNet PBE band-gap regressor (MP 2018.6.1 non-metals)",
    ),
    "megnet-2018-classifier": Family(
        "megnet-2018-classifier",
        ("megnet-2018-metal-classifier",),
        "2018 MEGNet metal / non-metal classifier (output: probability of a non-zero gap)",
    ),
    "megnet-mf": Family(
        "megnet-mf",
        tuple(f"megnet-mf-ordered-{i}" for i in range(6)),
        "multi-fidelity MEGNet (PBE, GLLB-SC, HSE, experiment), six models, ordered structures",
        fidelity=True,
    ),
    "megnet-mf-disorder": Family(
        "megnet-mf-disorder",
        tuple(f"megnet-mf-disorder-{i}" for i in range(6)),
        "multi-fidelity MEGNet for disordered structures (fractional occupancies), six models",
        fidelity=True,
        disordered=True,
    ),
}

_LOCK = threading.Lock()
#: Traced forward passes, by (weight entry, input layout): one trace per member and process.
_TRACED: dict = {}
_LOADED: dict[str, object] = {}


def get_family(name: str) -> Family:
    """The MEGNet family called ``name``.

    Args:
        name: ``megnet-2018``, ``megnet-mf`` or ``megnet-mf-disorder``.

    Returns:
        Its ``Family``.

    Raises:
        OptionError: an unknown name, with the known ones.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(n for n in FAMILIES if n != "megnet-2018-classifier")
        raise OptionError(f"Unknown MEGNet model {name!r}; choose one of {known}") from None


def fidelity_state(fidelity: str | None, family: Family) -> int | None:
    """The integer state of a fidelity, checked against the family.

    Args:
        fidelity: ``pbe``, ``gllb-sc``, ``hse`` or ``exp`` (``None``: PBE).
        family: the family it is asked of.

    Returns:
        The state, or ``None`` for a single-fidelity family.

    Raises:
        OptionError: an unknown fidelity, or one a PBE-only family does not have.
    """
    if not family.fidelity:
        if fidelity not in (None, "pbe"):
            raise OptionError(f"{family.name} predicts PBE gaps only; drop --fidelity {fidelity}")
        return None
    fidelity = fidelity or "pbe"
    try:
        return FIDELITIES[fidelity.lower()]
    except KeyError:
        raise OptionError(
            f"Unknown fidelity {fidelity!r}; choose one of {', '.join(FIDELITIES)}"
        ) from None


def load_graph_model(entry: str):
    """A megnet ``GraphModel`` from the shared weights (loaded once per process).

    Args:
        entry: the catalog entry of its weights.

    Returns:
        The ``GraphModel``.
    """
    from bandgaps.compat import import_megnet
    from bandgaps.models.weights import weights_file

    with _LOCK:
        if entry not in _LOADED:
            import warnings

            import_megnet()
            from megnet.models import MEGNetModel

            with warnings.catch_warnings():
                # Keras warns that megnet's shared initializer is unseeded; irrelevant when
                # loading trained weights
                warnings.filterwarnings("ignore", message="The initializer")
                _LOADED[entry] = MEGNetModel.from_file(str(weights_file(entry)))
        return _LOADED[entry]


def converter_key(model) -> str:
    """Identity of a model's graph converter: models with equal keys share graphs.

    Args:
        model: a megnet ``GraphModel``.

    Returns:
        Its converter's settings as sorted JSON.
    """
    return json.dumps(model.graph_converter.as_dict(), sort_keys=True, default=str)


def _graph(i: int, structure, convert):
    try:
        return convert(structure)
    except Exception as exc:  # isolated atoms, empty cells, unknown species
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"Cannot build a MEGNet graph for structure {i} "
            f"({structure.composition.reduced_formula}): {detail}"
        ) from None


class GraphInputs:
    """Batched MEGNet inputs for a list of structures under one graph converter.

    Args:
        model: the megnet ``GraphModel`` whose converter builds the graphs.
        structures: the structures.
        batch_size: structures per batch.
        fast: build the pretrained models' graphs as arrays (``bandgaps.models.graphs``);
            ``False`` uses megnet's own converter (the reference the tests compare with).
    """

    def __init__(self, model, structures, batch_size: int = 256, fast: bool = True):
        from bandgaps.models import graphs

        gc = model.graph_converter
        if fast and graphs.supports(gc) and all(s.is_ordered for s in structures):
            # the pretrained models' graphs, built as arrays (the same inputs, less Python)
            cutoff = gc.nn_strategy.cutoff
            built = [
                _graph(i, s, lambda s: graphs.crystal_graph(s, cutoff))
                for i, s in enumerate(structures)
            ]
            self.n_atoms = np.array([len(g.numbers) for g in built])
            self.batches = graphs.batches(built, gc, batch_size)
            return
        converted = [_graph(i, s, gc.convert) for i, s in enumerate(structures)]
        self.n_atoms = np.array([len(g["atom"]) for g in converted])
        atoms, *rest = gc.get_flat_data(converted)
        # atom features through the converter (identity for atomic numbers, occupancy-weighted
        # element embeddings for the disorder models), as megnet's single-graph path does
        inputs = ([np.asarray(gc.atom_converter.convert(a)) for a in atoms], *rest)
        gen = model._create_generator(*inputs, batch_size=batch_size, is_shuffle=False)
        self.batches = [list(gen[i]) for i in range(len(gen))]

    def __len__(self) -> int:
        return len(self.n_atoms)


class PretrainedEnsemble:
    """One or several pretrained MEGNet models predicting together.

    ``predict(structures, fidelity)`` returns the ensemble mean, and with ``return_std=True``
    also the standard deviation over the members (zero for a single model).

    Args:
        name: the family: ``megnet-2018``, ``megnet-mf`` or ``megnet-mf-disorder``.
        batch_size: structures per network call.
    """

    def __init__(self, name: str = "megnet-mf", batch_size: int = 256):
        self.name = name
        self.batch_size = batch_size
        self.family = get_family(name)

    @cached_property
    def members(self) -> list:
        return [load_graph_model(e) for e in self.family.entries]

    def _function(self, k: int, batch):
        """Member ``k``'s forward pass as one traced graph function for every batch: the
        signature fixes only the batch and feature dimensions, so each member is traced once
        per process, whichever ensemble calls it (``_TRACED``)."""
        import tensorflow as tf

        arrays = [np.asarray(a) for a in batch]
        # the signature's fixed dimensions: batch, and features for node/bond/state arrays
        layout = tuple(
            (a.ndim, a.shape[0], a.shape[2] if a.ndim == 3 else None, a.dtype.str) for a in arrays
        )
        key = (self.family.entries[k], layout)
        model = self.members[k].model  # loaded first: loading takes the same lock
        with _LOCK:
            if key not in _TRACED:
                spec = [
                    tf.TensorSpec(
                        shape=(a.shape[0], None, a.shape[2]) if a.ndim == 3 else (a.shape[0], None),
                        dtype=tf.as_dtype(a.dtype),
                    )
                    for a in arrays
                ]
                fn = tf.function(lambda *b: model(list(b), training=False), input_signature=spec)
                # TensorFlow counts traces per Python code object, so the one trace each member
                # needs (every member shares this lambda's code) would read as "frequent
                # retracing" and print a warning; with a fixed signature none retraces.
                if hasattr(fn, "_omit_frequent_tracing_warning"):
                    fn._omit_frequent_tracing_warning = True
                if not _TRACED:
                    # released before interpreter teardown, while TensorFlow can still free them
                    # (else each prints "Exception ignored in AtomicFunction.__del__" at exit)
                    import atexit

                    atexit.register(_TRACED.clear)
                _TRACED[key] = fn
            return _TRACED[key]

    def graph_inputs(self, structures) -> dict[str, GraphInputs]:
        """Inputs per distinct graph converter among the members (usually one).

        Args:
            structures: the structures.

        Returns:
            ``{converter_key: GraphInputs}``.
        """
        out: dict[str, GraphInputs] = {}
        for m in self.members:
            key = converter_key(m)
            if key not in out:
                out[key] = GraphInputs(m, structures, self.batch_size)
        return out

    def predict_members(self, structures, fidelity: str | None = None, inputs=None) -> np.ndarray:
        """Predictions of every member.

        Args:
            structures: the structures.
            fidelity: the multi-fidelity state (``None``: PBE).
            inputs: ``graph_inputs(structures)``, when the caller built them already.

        Returns:
            An array ``(n_members, n_structures)``, in eV.
        """
        self._check(structures)
        state = fidelity_state(fidelity, self.family)
        inputs = inputs or self.graph_inputs(structures)
        rows = []
        for k, m in enumerate(self.members):
            gi = inputs[converter_key(m)]
            outs = []
            for batch in gi.batches:
                if state is not None:
                    # the global state is the fidelity: one integer per graph
                    batch = list(batch)
                    batch[2] = np.full((1, batch[2].shape[1], 1), state, dtype=batch[2].dtype)
                # one batch runs eagerly: tracing costs seconds and pays off over many batches
                if len(gi.batches) > 1:
                    out = self._function(k, batch)(*batch)
                else:
                    out = m.model(batch, training=False)
                outs.append(np.asarray(out).reshape(-1))
            raw = np.concatenate(outs) if outs else np.zeros(0)
            scaler = m.target_scaler
            rows.append(
                np.array(
                    [scaler.inverse_transform(v, n) for v, n in zip(raw, gi.n_atoms, strict=True)]
                )
                .astype(float)
                .reshape(-1)
            )
        return np.vstack(rows)

    def warm_up(self, structure, fidelity: str | None = None) -> None:
        """Trace every member's forward pass now (TensorFlow takes a second or two per member),
        so that a screen pays it at start-up and not in its first partition.

        Args:
            structure: any structure the family reads (a screen uses silicon).
            fidelity: the multi-fidelity state the screen asks for.
        """
        pair = [structure, structure]
        inputs = {
            converter_key(m): GraphInputs(m, pair, batch_size=1) for m in self.members
        }  # two batches: the traced path, whose signature fits every batch size
        self.predict_members(pair, fidelity, inputs=inputs)

    def predict(self, structures, fidelity: str | None = None, return_std: bool = False):
        """The ensemble's band gap of each structure.

        Args:
            structures: the structures.
            fidelity: the multi-fidelity state (``None``: PBE).
            return_std: also return the members' standard deviation.

        Returns:
            The mean over the members, and with ``return_std`` also their spread (eV).
        """
        members = self.predict_members(structures, fidelity)
        mean = members.mean(axis=0)
        return (mean, members.std(axis=0)) if return_std else mean

    def _check(self, structures) -> None:
        """Refuse, before TensorFlow starts, what the models cannot read."""
        for i, s in enumerate(structures):
            beyond = sorted({el.symbol for el in s.composition.elements if el.Z > MAX_Z})
            if beyond:
                raise InputError(
                    f"Structure {i} ({s.composition.reduced_formula}) holds {', '.join(beyond)}: "
                    f"MEGNet has an embedding for elements up to Z = {MAX_Z} only"
                )
        if not self.family.disordered:
            for i, s in enumerate(structures):
                if not s.is_ordered:
                    raise InputError(
                        f"Structure {i} ({s.composition.reduced_formula}) has fractional "
                        f"occupancies; use --model megnet-mf-disorder for it"
                    )
