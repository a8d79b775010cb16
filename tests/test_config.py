import pytest

from bandgaps.config import project_root, shared_root
from bandgaps.errors import SnapshotError


def test_default_shared_root_is_beside_the_project(monkeypatch):
    monkeypatch.delenv("BANDGAPS_SHARED", raising=False)
    assert shared_root(must_exist=False) == (project_root().parent / "shared").resolve()


def test_environment_variable_overrides_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("BANDGAPS_SHARED", str(tmp_path))
    assert shared_root() == tmp_path.resolve()


def test_missing_shared_root_names_the_folder_and_the_fix(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("BANDGAPS_SHARED", str(missing))
    with pytest.raises(SnapshotError) as err:
        shared_root()
    message = str(err.value)
    assert str(missing) in message and "BANDGAPS_SHARED" in message
