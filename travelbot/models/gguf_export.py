"""PEFT LoRA adapters as GGUF LoRA adapters, so llama.cpp can serve them beside a GGUF base.

The file layout is the one llama.cpp reads (see its ``convert_lora_to_gguf.py``): ``general.type =
adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``, the base's architecture, and for each
adapted weight ``blk.N.<tensor>.weight.lora_a`` (A, ``r × in``) and ``.lora_b`` (B, ``out × r``).
llama.cpp scales each pair by ``alpha / r`` as PEFT does. Exports are cached under
``$TRAVELBOT_HOME/gguf-adapters/`` by adapter revision, so each adapter is converted once.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models.loading import read_adapter_config, safetensors_header
from travelbot.models.registry import Variant

# Hugging Face module (inside model.layers.N) -> llama.cpp tensor (inside blk.N).
GGUF_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# llama.cpp's converter reorders the rows of q/k for these architectures (its rope expects the
# halves of each head interleaved); B, which writes those rows, must be reordered the same way.
ROPE_PERMUTED = {"llama"}
# Ranks are padded with zeros to a multiple of this, so llama.cpp's CPU matrix kernels (which need
# inner sizes in multiples of 16) process a prompt's LoRA products in blocks: about three times
# less prompt time spent on the adapter, and the zeros change nothing.
RANK_MULTIPLE = 16
EXPORT_VERSION = 2  # part of the cached file's name: a change in how adapters are written re-exports them
# PEFT options that change the forward pass in ways a plain GGUF LoRA pair cannot express.
UNSUPPORTED = {
    "use_dora": "DoRA",
    "rank_pattern": "per-layer ranks (rank_pattern)",
    "alpha_pattern": "per-layer alphas (alpha_pattern)",
    "modules_to_save": "fully trained modules (modules_to_save)",
    "trainable_token_indices": "trained token embeddings",
    "lora_bias": "LoRA biases",
    "fan_in_fan_out": "fan_in_fan_out weights",
    "alora_invocation_tokens": "activated LoRA (aLoRA)",
    "layer_replication": "layer replication",
    "use_qalora": "QA-LoRA",
}
_LORA_NAME = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


@dataclass(frozen=True)
class BaseLayout:
    """What an adapter export needs to know about a GGUF base."""

    architecture: str
    head_count: int
    head_count_kv: int
    shapes: dict[str, tuple[int, int]]  # tensor name -> (out_features, in_features)


# Byte sizes of GGUF's fixed-size metadata value types (its spec: uint8 … float64, bool), by type id.
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


@lru_cache(maxsize=8)
def _layout(path: str, mtime_ns: int) -> BaseLayout:
    """Read the header only: gguf's ``GGUFReader`` builds every metadata field, the tokenizer's ~100k strings
    included, which took ~2.5 s on two cores — time the first question to a fine-tuned variant waited for."""
    import mmap
    import struct

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        offset = 0

        def read(fmt: str):
            nonlocal offset
            values = struct.unpack_from("<" + fmt, data, offset)
            offset += struct.calcsize("<" + fmt)
            return values if len(values) > 1 else values[0]

        def string() -> str:
            nonlocal offset
            size = read("Q")
            offset += size
            return bytes(data[offset - size:offset]).decode("utf-8", "replace")

        def value(kind: int):
            nonlocal offset
            if kind == _STRING:
                return string()
            if kind == _ARRAY:
                item, count = read("IQ")
                if item in _FIXED_SIZES:
                    offset += _FIXED_SIZES[item] * count
                else:
                    for _ in range(count):
                        value(item)
                return None
            if kind not in _FIXED_SIZES:
                raise ValueError(f"unknown GGUF value type {kind}")
            return read({0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}[kind])

        magic, version, tensor_count, kv_count = read("4sIQQ")
        if magic != b"GGUF" or version < 2:
            raise TravelbotError(f"{path} is not a GGUF file (version 2 or later).")
        fields = {}
        for _ in range(kv_count):
            key = string()
            fields[key] = value(read("I"))
        shapes = {}
        for _ in range(tensor_count):
            name = string()
            count = read("I")
            dims = struct.unpack_from(f"<{count}Q", data, offset)
            offset += 8 * count + 12  # the dimensions, then the tensor's type and data offset
            if len(dims) == 2:
                shapes[name] = (int(dims[1]), int(dims[0]))
    arch = fields["general.architecture"]
    heads = int(fields[f"{arch}.attention.head_count"])
    return BaseLayout(arch, heads, int(fields.get(f"{arch}.attention.head_count_kv", heads)), shapes)


def base_layout(gguf: Path) -> BaseLayout:
    """Architecture, attention heads and 2-D tensor shapes of a GGUF base (read once per file)."""
    return _layout(str(gguf), gguf.stat().st_mtime_ns)


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Float tensors of a safetensors file as float32 arrays (bfloat16 too, without torch)."""
    header, offset = safetensors_header(path)
    data = np.fromfile(path, dtype=np.uint8, offset=offset)
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(meta["dtype"])
        if dtype is None:
            raise TravelbotError(f"{path}: tensor {name} is {meta['dtype']}; adapters must hold F32, F16 or BF16.")
        start, end = meta["data_offsets"]
        try:
            array = data[start:end].view(dtype).reshape(meta["shape"])
        except ValueError:
            raise TravelbotError(f"The adapter file {path} is truncated or corrupt; re-export the adapter.") from None
        if meta["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.astype(np.float32)
    return tensors


def rope_permute(rows: np.ndarray, heads: int) -> np.ndarray:
    """Reorder the output rows of a q/k weight (or its LoRA B) as llama.cpp's converter does."""
    shape = rows.shape
    return rows.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _check_config(config: dict, adapter_dir: Path) -> None:
    for key, what in UNSUPPORTED.items():
        if config.get(key):
            raise TravelbotError(
                f"Adapter {adapter_dir.name} uses {what}, which llama.cpp cannot apply; "
                "serve it with TRAVELBOT_BACKEND=transformers."
            )
    if config.get("bias", "none") != "none":
        raise TravelbotError(
            f"Adapter {adapter_dir.name} trains biases (bias={config['bias']!r}), which llama.cpp cannot apply; "
            "serve it with TRAVELBOT_BACKEND=transformers."
        )


def lora_tensors(adapter_dir: Path, layout: BaseLayout) -> tuple[float, dict[str, np.ndarray]]:
    """(alpha, GGUF tensors) of a PEFT LoRA folder; anything llama.cpp cannot apply is refused."""
    config = read_adapter_config(adapter_dir)
    _check_config(config, adapter_dir)
    rank = int(config["r"])
    alpha = float(config["lora_alpha"])
    if config.get("use_rslora"):
        alpha *= math.sqrt(rank)  # PEFT scales by alpha/sqrt(r); llama.cpp always divides by r
    tensors: dict[str, np.ndarray] = {}
    for name, array in read_safetensors(adapter_dir / "adapter_model.safetensors").items():
        match = _LORA_NAME.match(name)
        module = match and GGUF_TENSORS.get(match.group(2))
        if not module:
            raise TravelbotError(
                f"Adapter {adapter_dir.name} adapts {name.removeprefix('base_model.model.')}, which llama.cpp "
                "cannot adapt (only attention and MLP projections); serve it with TRAVELBOT_BACKEND=transformers."
            )
        target = f"blk.{match.group(1)}.{module}.weight"
        expected = layout.shapes.get(target)
        if expected is None:
            raise TravelbotError(f"Adapter {adapter_dir.name} targets {target}, which the base does not have.")
        side = match.group(3)
        size = array.shape[1] if side == "A" else array.shape[0]
        if size != (expected[1] if side == "A" else expected[0]) or array.shape[0 if side == "A" else 1] != rank:
            raise TravelbotError(
                f"Adapter {adapter_dir.name} was trained for another base: {target} has shape {expected}, "
                f"its lora_{side} is {tuple(array.shape)}."
            )
        if side == "B" and layout.architecture in ROPE_PERMUTED and module in {"attn_q", "attn_k"}:
            array = rope_permute(array, layout.head_count if module == "attn_q" else layout.head_count_kv)
        tensors[f"{target}.lora_{side.lower()}"] = array
    pairs = {n.rsplit(".", 1)[0] for n in tensors}
    if not pairs or any(f"{p}.lora_a" not in tensors or f"{p}.lora_b" not in tensors for p in pairs):
        raise TravelbotError(f"Adapter {adapter_dir.name} is incomplete (each layer needs lora_A and lora_B).")
    padded = -(-rank // RANK_MULTIPLE) * RANK_MULTIPLE
    for name, array in tensors.items():
        if name.endswith(".lora_a"):
            tensors[name] = np.pad(array, ((0, padded - rank), (0, 0)))
        else:
            tensors[name] = np.pad(array, ((0, 0), (0, padded - rank)))
    return alpha * padded / rank, tensors  # llama.cpp divides by the padded rank


def write_gguf_lora(alpha: float, tensors: dict[str, np.ndarray], architecture: str, out: Path) -> None:
    """Write a GGUF LoRA adapter file in 32-bit floats (atomically: readers never see half a file).

    Always F32, even for adapters trained in 16 bits: llama.cpp rounds the activations to the adapter's
    type before multiplying, and F16 activations moved next-token logits by up to 0.6 against the same
    adapter in F32 (which changes greedy answers after a few tokens); F32 costs no measurable speed.
    """
    from gguf import GGUFType, GGUFWriter, Keys

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=out.parent, suffix=".partial")
    os.close(handle)
    try:
        writer = GGUFWriter(partial, architecture)
        writer.add_type(GGUFType.ADAPTER)
        writer.add_string(Keys.Adapter.TYPE, "lora")
        writer.add_float32(Keys.Adapter.LORA_ALPHA, alpha)
        for name in sorted(tensors):
            writer.add_tensor(name, tensors[name].astype(np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(partial, out)
    finally:
        Path(partial).unlink(missing_ok=True)


def export_lora(adapter_dir: Path, base_gguf: Path, out: Path) -> Path:
    """Convert a PEFT LoRA folder for the GGUF base ``base_gguf`` into the GGUF adapter ``out``."""
    layout = base_layout(base_gguf)
    alpha, tensors = lora_tensors(adapter_dir, layout)
    write_gguf_lora(alpha, tensors, layout.architecture, out)
    return out


def gguf_adapter(variant: Variant, base_gguf: Path, settings: Settings) -> Path:
    """The variant's adapter as a GGUF file, exported on first use and cached by adapter revision."""
    assert variant.adapter is not None
    out = settings.gguf_adapters_dir / variant.base.name / f"{variant.name}-{variant.revision}.v{EXPORT_VERSION}.gguf"
    if not out.is_file():
        export_lora(variant.adapter, base_gguf, out)
    return out
