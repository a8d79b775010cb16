"""The API reference documents parameters: every public function, method and class with
parameters, in the modules the API pages render, has an ``Args:`` (or, for a dataclass,
``Attributes:``) section."""

import importlib
import inspect
import re

import pytest

from bandgaps.config import project_root

#: The API pages (``docs/api/*.md``), each listing its modules as ``::: module``.
DOCUMENTED_PAGES = (
    "data",
    "features",
    "models",
    "screening",
    "structures",
    "analyses",
    "infrastructure",
)
SECTION = re.compile(r"^(Args|Attributes):", re.M)


def _modules() -> list[str]:
    out = []
    for page in DOCUMENTED_PAGES:
        text = (project_root() / "docs" / "api" / f"{page}.md").read_text()
        out += [line.split(":::")[1].strip() for line in text.splitlines() if ":::" in line]
    return out


def _public(module) -> list[tuple[str, object]]:
    names = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    items = []
    for name in names:
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            items.append((name, obj))
        elif inspect.isclass(obj):
            items.append((name, obj))
            items += [
                (f"{name}.{k}", v)
                for k, v in vars(obj).items()
                if not k.startswith("_") and inspect.isfunction(v)
            ]
    return items


def _takes_parameters(obj) -> bool:
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False
    return any(p not in ("self", "cls") for p in params)


@pytest.mark.parametrize("module_name", _modules())
def test_public_api_documents_its_parameters(module_name):
    module = importlib.import_module(module_name)
    items = [(n, o) for n, o in _public(module) if _takes_parameters(o)]
    undocumented = [n for n, o in items if not SECTION.search(inspect.getdoc(o) or "")]
    assert not undocumented, f"{module_name}: no Args section in {undocumented}"


def test_the_check_sees_the_api():
    # every API page is held to it, and the modules' public functions are found (a check that
    # found none would pass vacuously)
    pages = {p.stem for p in (project_root() / "docs" / "api").glob("*.md")} - {"index"}
    assert pages == set(DOCUMENTED_PAGES)
    modules = _modules()
    assert "bandgaps.models.predictor" in modules and "bandgaps.screening.engine" in modules
    names = [n for n, _ in _public(importlib.import_module("bandgaps.models.predictor"))]
    assert {"resolve", "Predictor", "Predictor.predict_table"} <= set(names)
