"""torch tensors to and from safetensors bytes: a file's header and buffers from a dict of
tensors (names sorted), and tensors backed by a verified file's bytes without a copy.
torch is imported lazily (extra ``torch``)."""

from __future__ import annotations

from typing import Any

from greenhop.core.errors import CheckpointError, require
from greenhop.workload import safeformat as sf

_TORCH_DTYPES = {
    "bool": "BOOL",
    "uint8": "U8",
    "int8": "I8",
    "int16": "I16",
    "uint16": "U16",
    "float16": "F16",
    "bfloat16": "BF16",
    "int32": "I32",
    "uint32": "U32",
    "float32": "F32",
    "int64": "I64",
    "uint64": "U64",
    "float64": "F64",
    "float8_e5m2": "F8_E5M2",
    "float8_e4m3fn": "F8_E4M3",
}


def _torch():
    return require("torch", "torch")


def is_tensor(x: Any) -> bool:
    torch = _torch()
    return isinstance(x, torch.Tensor)


def _st_dtype(t) -> str:
    name = str(t.dtype).removeprefix("torch.")
    if name not in _TORCH_DTYPES:
        raise CheckpointError(f"tensor dtype {t.dtype} cannot be stored in safetensors")
    return _TORCH_DTYPES[name]


def _tensor_bytes(t) -> memoryview:
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    flat = t.contiguous().reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(_torch().uint8).numpy()).cast("B")


def safetensors_pieces(tensors: dict[str, Any]) -> list:
    """Header + tensor buffers of a safetensors file holding ``tensors``, names in sorted order.

    Sorted by name: the data part of a model file is then the model's bytes in
    canonical order (what ``weights_sha256`` hashes).
    """
    names = sorted(tensors)
    bufs = [_tensor_bytes(tensors[n]) for n in names]
    header = sf.encode_header(
        (n, _st_dtype(tensors[n]), tuple(tensors[n].shape), len(b))
        for n, b in zip(names, bufs, strict=True)
    )
    return [header, *bufs]


def tensors_from_buffer(buf, header: sf.SafetensorsHeader, where: str) -> dict[str, Any]:
    """Tensors backed by ``buf`` (the whole file's bytes), checked against ``header``."""
    torch = _torch()
    rev = {v: k for k, v in _TORCH_DTYPES.items()}
    out = {}
    for e in header.entries:
        dtype = getattr(torch, rev[e.dtype], None)
        if dtype is None:
            raise CheckpointError(f"{where}: dtype {e.dtype} is not supported by this torch")
        n = e.end - e.begin
        start = header.data_start + e.begin
        if n == 0:
            out[e.name] = torch.empty(e.shape, dtype=dtype)
            continue
        if start % sf.DTYPE_SIZES[e.dtype]:  # unaligned: copy
            raw = torch.frombuffer(bytearray(buf[start : start + n]), dtype=torch.uint8)
        else:
            raw = torch.frombuffer(buf, dtype=torch.uint8, count=n, offset=start)
        out[e.name] = raw.view(dtype).reshape(e.shape)
    return out
