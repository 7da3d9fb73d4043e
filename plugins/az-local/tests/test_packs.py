"""Model packs: parts found through installed distributions' file lists,
joined into the model cache, verified by sha256, refused on a mismatch.

The parts here are real distributions (dist-info with a RECORD) written to
a temporary site directory on ``sys.path``; the joined file is small."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from az_local.model import LocalModel, models_from_config
from az_local.packs import ModelPack, cache_dir, ensure_file, part_files, state
from az_os.errors import ModelError

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"end"]


def _write_dist(site: Path, name: str, version: str, data: bytes) -> None:
    mod = name.replace("-", "_")
    (site / mod / "data").mkdir(parents=True)
    (site / mod / "data" / "part.bin").write_bytes(data)
    info = site / f"{mod}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{mod}/data/part.bin,,\n{info.name}/METADATA,,\n")


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    for i, chunk in enumerate(CHUNKS, 1):
        _write_dist(site, f"az-test-part{i}", "1.0", chunk)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("AZ_MODEL_CACHE", str(tmp_path / "cache"))
    yield site


def _pack(sha: str | None = None, **kw: object) -> ModelPack:
    digest = sha or hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    spec = {
        "id": "local/test-model",
        "parts": [f"az-test-part{i}==1.0" for i in range(1, len(CHUNKS) + 1)],
        "sha256": digest,
        "part_glob": "*/data/*.bin",
        **kw,
    }
    return ModelPack.from_dict(spec, dist="az-test-pack")


def test_bad_declarations_are_refused() -> None:
    good = {"id": "local/x", "parts": ["a==1"], "sha256": "0" * 64}
    ModelPack.from_dict(good)
    for bad in (
        {**good, "id": "x"},
        {**good, "sha256": "abc"},
        {**good, "parts": []},
        {**good, "parts": ["a>=1"]},
    ):
        with pytest.raises(ValueError):
            ModelPack.from_dict(bad)


def test_assembled_in_order_verified_and_reused(
    parts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack()
    assert cache_dir() == tmp_path / "cache"
    assert state(pack)[0] == "not assembled"
    path = ensure_file(pack)
    assert path.parent == tmp_path / "cache"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert "assembling local/test-model from 3 parts" in capsys.readouterr().err
    assert state(pack)[0] == "verified"
    marker = json.loads(path.with_name(path.name + ".verified").read_text())
    assert marker["sha256"] == pack.sha256
    # a second call neither rebuilds nor rehashes
    mtime = path.stat().st_mtime_ns
    assert ensure_file(pack) == path and path.stat().st_mtime_ns == mtime
    assert capsys.readouterr().err == ""


def test_a_changed_file_is_hashed_again_and_refused(parts: Path) -> None:
    pack = _pack()
    path = ensure_file(pack)
    path.write_bytes(b"GGUF tampered")
    assert state(pack)[0] == "changed"
    with pytest.raises(ModelError) as err:
        ensure_file(pack)
    msg = str(err.value)
    assert pack.sha256 in msg and hashlib.sha256(b"GGUF tampered").hexdigest() in msg
    assert not path.exists()
    # the parts are still there: the next use assembles a good file again
    assert ensure_file(pack).read_bytes() == b"".join(CHUNKS)


def test_a_wrong_hash_is_refused_and_nothing_is_left(parts: Path, tmp_path: Path) -> None:
    pack = _pack(sha="1" * 64)
    with pytest.raises(ModelError, match="sha256 mismatch") as err:
        ensure_file(pack)
    assert "1" * 64 in str(err.value)
    assert hashlib.sha256(b"".join(CHUNKS)).hexdigest() in str(err.value)
    left = [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]
    assert left == []
    model = LocalModel(pack.id, cache_dir() / pack.filename, pack=pack)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        model.load()  # never loaded unverified


def test_missing_or_other_version_parts_make_it_unusable(parts: Path) -> None:
    spec = {"id": "local/t", "sha256": "0" * 64, "part_glob": "*/data/*.bin"}
    missing = ModelPack.from_dict({**spec, "parts": ["az-test-part1==1.0", "az-nope==1"]})
    files, problems = part_files(missing)
    assert len(files) == 1 and problems == ["az-nope==1 is not installed"]
    other = ModelPack.from_dict({**spec, "parts": ["az-test-part1==2.0"]}, dist="the-pack")
    current, detail = state(other)
    assert current == "parts missing" and "needs 2.0" in detail and "the-pack" in detail
    model = LocalModel(other.id, cache_dir() / other.filename, pack=other)
    ok, why = model.usable()
    assert not ok and "needs 2.0" in why
    with pytest.raises(ModelError):
        ensure_file(other)


def test_an_installed_pack_is_registered_before_smollm2(
    parts: Path, monkeypatch: pytest.MonkeyPatch, az_home: Path
) -> None:
    pack = _pack(aliases=["tiny"], default_priority=1)
    monkeypatch.setattr("az_local.packs.discover", lambda warn=None: [pack])
    models = models_from_config()
    assert [m.info.id for m in models][:2] == ["local/test-model", "local/smollm2-135m-instruct"]
    first, smol = models[0], models[1]
    assert first.info.aliases == ["tiny", "local"] and "local" not in smol.info.aliases
    assert first.info.default_priority == 1 > smol.info.default_priority
    assert first.provenance() == {"source": "pack az-test-pack", "verification": "not assembled"}


def test_cache_dir_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZ_MODEL_CACHE", raising=False)
    from platformdirs import user_cache_dir

    assert cache_dir() == Path(user_cache_dir("az")) / "models"
    assert "az_local.packs" in sys.modules
