"""LightGBM's text model format, read by a strict parser of ours before LightGBM sees it.

LightGBM's own loader trusts its input: a child index out of range, a huge
``num_tree_per_iteration`` or ``tree_sizes`` crash the process, a huge ``num_leaves`` or a NaN
threshold abort it, and a node that is its own child loops forever. A model file from anyone
must do none of that, so ``checked_model_text`` parses every field, checks it (tree and leaf
counts, array lengths, child indices forming one acyclic binary tree, feature indices, thresholds
that are numbers (±inf included: LightGBM's split of missing values), finite leaf values, the
objective, no categorical or linear trees) and writes a new text from the checked values only.
LightGBM parses that text, never the file's.

Examples:
    >>> import numpy as np, lightgbm as lgb
    >>> X = np.random.default_rng(0).uniform(size=(200, 3))
    >>> b = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, verbose=-1).fit(X, X[:, 0]).booster_
    >>> text = checked_model_text(b.model_to_string(), n_features=3, what="booster")
    >>> bool(np.allclose(lgb.Booster(model_str=text).predict(X), b.predict(X)))
    True
    >>> checked_model_text(text.replace("max_feature_idx=2", "max_feature_idx=7"), 3, "booster")
    Traceback (most recent call last):
    ...
    bandgaps.errors.InputError: booster: max_feature_idx is 7, expected 2 (3 features)
"""

from __future__ import annotations

import re

import numpy as np

from bandgaps.errors import InputError

#: The most trees one booster may hold (``bandgaps train`` refuses more estimators).
MAX_TREES = 20_000
#: LightGBM's own ceiling on leaves per tree.
MAX_LEAVES = 131_072
#: The most features a model may read.
MAX_FEATURES = 10_000

#: The objectives bandgaps trains (what a model file can legitimately hold).
OBJECTIVES = ("regression", "regression_l1", "huber", "quantile", "binary")

_HEADER_KEYS = (
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "feature_infos",
    "tree_sizes",
)
#: Per-tree arrays LightGBM predicts with: (name, element kind, length: "inner" = leaves − 1 or
#: "leaf" = leaves). Only these reach LightGBM.
_TREE_ARRAYS = (
    ("split_feature", "int", "inner"),
    ("threshold", "float", "inner"),
    ("decision_type", "int", "inner"),
    ("left_child", "int", "inner"),
    ("right_child", "int", "inner"),
    ("leaf_value", "float", "leaf"),
)
#: Training statistics LightGBM writes beside them: allowed in a file, never passed on.
_TREE_STATISTICS = (
    "split_gain",
    "leaf_weight",
    "leaf_count",
    "internal_value",
    "internal_weight",
    "internal_count",
)
_TREE_SCALARS = ("num_leaves", "num_cat", "is_linear", "shrinkage")
_ARRAY_KIND = {name: kind for name, kind, _ in _TREE_ARRAYS}

_INT = r"-?\d{1,19}"
_FLOAT = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,4})?"
_INTS = re.compile(rf"(?:{_INT}(?: {_INT})*)?")
_FLOATS = re.compile(rf"(?:{_FLOAT}(?: {_FLOAT})*)?")
#: Thresholds may be ±inf: LightGBM splits missing values from all others at ``x <= inf``.
_THRESHOLD = rf"(?:{_FLOAT}|-?inf)"
_THRESHOLDS = re.compile(rf"(?:{_THRESHOLD}(?: {_THRESHOLD})*)?")
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_EXPONENT = re.compile(r"[eE]([-+]?\d+)")
_INFO = re.compile(rf"none|\[{_FLOAT}:{_FLOAT}\]")
#: ``missing_type << 2 | default_left << 1``, numerical splits only (bit 0 marks categorical).
_DECISION_TYPES = np.array([0, 2, 4, 6, 8, 10])
_DECISION_OK = np.isin(np.arange(256), _DECISION_TYPES)  # a lookup: one test per split


def _fail(what: str, detail: str) -> InputError:
    return InputError(f"{what}: {detail}")


def _int(value: str, name: str, what: str) -> int:
    if not re.fullmatch(_INT, value):
        raise _fail(what, f"{name} is not an integer")
    return int(value)


def _array(value: str, name: str, what: str) -> np.ndarray:
    kind = _ARRAY_KIND[name]
    grammar = {"int": _INTS, "float": _FLOATS}[kind] if name != "threshold" else _THRESHOLDS
    if not grammar.fullmatch(value):
        raise _fail(what, f"{name} holds something other than {kind}s")
    tokens = value.split()
    if kind == "int":
        try:
            return np.array(tokens, dtype=np.int64)
        except OverflowError:
            raise _fail(what, f"{name} holds an integer outside 64 bits") from None
    if any(abs(int(e)) > 300 for e in _EXPONENT.findall(value)):
        # beyond a double's range: LightGBM would warn and read inf or 0
        raise _fail(what, f"{name} holds a number outside a double's range")
    values = np.array(tokens, dtype=np.float64)
    infinite = ~np.isfinite(values)
    if infinite.any() and (name != "threshold" or np.isnan(values).any()):
        raise _fail(what, f"{name} holds a value that is not finite")
    return values


def _fields(lines: list[str], what: str, allowed: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or key not in allowed:
            raise _fail(what, f"unexpected line {line[:40]!r}")
        if key in out:
            raise _fail(what, f"{key} appears twice")
        out[key] = value
    return out


def _objective(value: str, what: str) -> str:
    name, *extra = value.split(" ")
    if name not in OBJECTIVES:
        raise _fail(what, f"objective {name[:40]!r} is not one bandgaps trains")
    if name == "binary":
        if len(extra) != 1 or not re.fullmatch(rf"sigmoid:{_FLOAT}", extra[0]):
            raise _fail(what, "the binary objective lacks its sigmoid")
        sigmoid = float(extra[0].split(":")[1])
        if not (np.isfinite(sigmoid) and 0 < sigmoid <= 1e3):
            raise _fail(what, "the binary objective's sigmoid is out of range")
    elif extra:
        raise _fail(what, f"objective {name} carries unexpected settings")
    return value


def _check_tree(fields: dict[str, str], k: int, n_features: int, what: str) -> list[str]:
    """The checked lines of tree ``k`` (``Tree=k`` first)."""
    where = f"{what}, tree {k}"
    for name in ("num_leaves", "num_cat", "leaf_value"):
        if name not in fields:
            raise _fail(where, f"{name} is missing")
    leaves = _int(fields["num_leaves"], "num_leaves", where)
    if not 1 <= leaves <= MAX_LEAVES:
        raise _fail(where, f"num_leaves is {leaves}, outside 1–{MAX_LEAVES:,}")
    if _int(fields["num_cat"], "num_cat", where) != 0:
        raise _fail(where, "categorical splits are not used by bandgaps models")
    if "is_linear" in fields and _int(fields["is_linear"], "is_linear", where) != 0:
        raise _fail(where, "linear trees are not used by bandgaps models")
    shrinkage = 1.0
    if "shrinkage" in fields:
        if not re.fullmatch(_FLOAT, fields["shrinkage"]):
            raise _fail(where, "shrinkage is not a number")
        shrinkage = float(fields["shrinkage"])
        if not np.isfinite(shrinkage):
            raise _fail(where, "shrinkage is not finite")
    sizes = {"inner": leaves - 1, "leaf": leaves}
    arrays: dict[str, np.ndarray] = {}
    for name, _, length in _TREE_ARRAYS:
        if name not in fields:
            if sizes[length] == 0:  # a one-leaf tree may leave out its split arrays
                continue
            raise _fail(where, f"{name} is missing")
        values = _array(fields[name], name, where)
        if len(values) != sizes[length]:
            raise _fail(where, f"{name} has {len(values)} entries, expected {sizes[length]}")
        arrays[name] = values
    if leaves > 1:
        _check_structure(arrays, leaves, n_features, where)
    lines = [f"Tree={k}", f"num_leaves={leaves}", "num_cat=0"]
    lines += [f"{name}={fields[name]}" for name in arrays]
    return [*lines, "is_linear=0", f"shrinkage={fields.get('shrinkage', '1')}"]


def _check_structure(arrays: dict[str, np.ndarray], leaves: int, n_features: int, where: str):
    """Feature indices, decision types, and children that form one binary tree rooted at node 0
    (every node reached once, no cycle)."""
    feature = arrays["split_feature"]
    if ((feature < 0) | (feature >= n_features)).any():
        raise _fail(where, "a split reads a feature the model does not have")
    decision = arrays["decision_type"]
    if ((decision < 0) | (decision > 255)).any() or not _DECISION_OK[decision].all():
        raise _fail(where, "a split has an unknown decision type")
    inner = leaves - 1
    children = np.concatenate([arrays["left_child"], arrays["right_child"]])
    is_leaf = children < 0
    leaf_index = ~children[is_leaf]  # LightGBM writes leaf j as ~j
    node_index = children[~is_leaf]
    if (leaf_index >= leaves).any() or (node_index >= inner).any() or (node_index == 0).any():
        raise _fail(where, "a child index is out of range")
    if len(np.unique(leaf_index)) != leaves or len(np.unique(node_index)) != inner - 1:
        raise _fail(where, "its nodes do not form a tree")
    # every node but the root has one parent; all of them must lead up to the root
    parent = np.zeros(inner, dtype=np.int64)
    owners = np.concatenate([np.arange(inner), np.arange(inner)])
    parent[node_index] = owners[~is_leaf]
    for _ in range(int(np.ceil(np.log2(max(inner, 2)))) + 1):
        parent = parent[parent]
    if (parent != 0).any():
        raise _fail(where, "its nodes form a cycle")


def checked_model_text(text: str, n_features: int, what: str = "booster") -> str:
    """A LightGBM model text rebuilt from the checked fields of ``text``.

    Args:
        text: LightGBM's ``model_to_string`` output, as a model file holds it.
        n_features: the features the booster must read.
        what: names the booster in errors.

    Returns:
        A text with only checked fields, for ``lightgbm.Booster(model_str=…)``.

    Raises:
        InputError: the first problem found (a count, an index, a cycle, a number).
    """
    if not 1 <= n_features <= MAX_FEATURES:
        raise _fail(what, f"{n_features} features is outside 1–{MAX_FEATURES:,}")
    lines = text.split("\n")
    if not lines or lines[0] != "tree":
        raise _fail(what, "not a LightGBM text model")
    try:
        end = lines.index("end of trees")
    except ValueError:
        raise _fail(what, "the model text is cut short (no 'end of trees')") from None
    blocks: list[list[str]] = [[]]
    for line in lines[1:end]:
        if line == "":
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append(line)
    blocks = [b for b in blocks if b]
    if not blocks:
        raise _fail(what, "the model text is empty")
    header = _fields(blocks[0], what, _HEADER_KEYS)
    for key in _HEADER_KEYS[:-1]:
        if key not in header:
            raise _fail(what, f"{key} is missing")
    if header["version"] != "v4":
        raise _fail(what, f"model version {header['version'][:20]!r} is not v4")
    for key in ("num_class", "num_tree_per_iteration"):
        if _int(header[key], key, what) != 1:
            raise _fail(what, f"{key} must be 1 (one output per tree)")
    if _int(header["label_index"], "label_index", what) != 0:
        raise _fail(what, "label_index must be 0")
    top = _int(header["max_feature_idx"], "max_feature_idx", what)
    if top != n_features - 1:
        raise _fail(
            what, f"max_feature_idx is {top}, expected {n_features - 1} ({n_features} features)"
        )
    objective = _objective(header["objective"], what)
    names = header["feature_names"].split(" ")
    infos = header["feature_infos"].split(" ")
    if len(names) != n_features or not all(_NAME.fullmatch(n) for n in names):
        raise _fail(what, "feature_names do not match the model's features")
    if len(infos) != n_features or not all(_INFO.fullmatch(i) for i in infos):
        raise _fail(what, "feature_infos are malformed")
    trees = blocks[1:]
    if not 1 <= len(trees) <= MAX_TREES:
        raise _fail(what, f"{len(trees)} trees is outside 1–{MAX_TREES:,}")
    if "tree_sizes" in header:  # LightGBM's offsets into the text: not passed on, but checked
        if not _INTS.fullmatch(header["tree_sizes"]):
            raise _fail(what, "tree_sizes holds something other than integers")
        sizes = [int(t) for t in header["tree_sizes"].split()]
        if len(sizes) != len(trees) or not all(0 < n <= len(text) for n in sizes):
            raise _fail(what, "tree_sizes do not match its trees")
    out = [
        "tree",
        "version=v4",
        "num_class=1",
        "num_tree_per_iteration=1",
        "label_index=0",
        f"max_feature_idx={n_features - 1}",
        f"objective={objective}",
        f"feature_names={' '.join(names)}",
        f"feature_infos={' '.join(infos)}",
        "",
    ]
    for k, block in enumerate(trees):
        if block[0] != f"Tree={k}":
            raise _fail(what, f"tree {k} is missing or out of order")
        allowed = _TREE_SCALARS + tuple(_ARRAY_KIND) + _TREE_STATISTICS
        fields = _fields(block[1:], f"{what}, tree {k}", allowed)
        out += [*_check_tree(fields, k, n_features, what), "", ""]
    out += ["end of trees", ""]
    return "\n".join(out)


__all__ = ["MAX_FEATURES", "MAX_LEAVES", "MAX_TREES", "OBJECTIVES", "checked_model_text"]
