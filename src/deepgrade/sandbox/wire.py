"""The message format between the grader and a worker.

A message is a JSON part, the header and each tensor's dtype and shape, then the tensors' raw
bytes one after the other: nothing that crosses the process boundary is ever unpickled, so a
hostile worker can send wrong numbers but never code, and every tensor read back is a plain
dense tensor of a known dtype whose size matches its bytes. (``torch.save`` would do too, at
several times the cost of a round trip.) Both lengths are announced first, so a reader refuses an
oversized message before reading it.

This module is imported by the worker: it must stay free of the grader's heavy dependencies.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Callable
from typing import Any

import torch

from deepgrade.sandbox.probes import Probe

_LENGTHS = struct.Struct(">QQ")
_MAX_DEPTH = 64
_MAX_DIMENSIONS = 64
# Bounds on a header, checked on its bytes before it is parsed: its JSON is the worker's, and a
# hostile one would otherwise cost the grader its stack (deep nesting), its memory (millions of
# items) or its time (integers of thousands of digits).
MAX_HEAD_BYTES = 8 << 20
_MAX_ITEMS = 200_000
# Each level of a value is two of JSON ({"__list__": [...]}), under the message's own few.
_MAX_JSON_DEPTH = 2 * _MAX_DEPTH + 8
# Integers beyond 64 bits cross as named objects (see encode); floats as JSON numbers or
# __float__; a longer literal is no number a worker sends.
_MAX_NUMBER_CHARS = 40
_INT64 = 1 << 63
# A dimension and an element count beyond these are no tensor that could be sent, and PyTorch
# could not even describe an empty one.
_MAX_ELEMENTS = 1 << 48
MAX_SYMPY_NODES = 5000
_MAX_SYMPY_TEXT = 100
_MAX_DEVICE_CHARS = 32
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Every byte but the JSON's structure, dropped to count a header's items and measure its depth.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},:")
# Each tensor's bytes start at a multiple of this, which every dtype's alignment divides.
_ALIGN = 16
_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
    )
}


class WireError(Exception):
    """A message that breaks the protocol: malformed, oversized or of a forbidden type."""


class ForeignObject:
    """Stands for a value the worker could not send as data (it only names its type)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<object of type {self.type_name}>"


class SympyTree:
    """A sympy expression as plain nested data; the grader rebuilds it from a whitelist."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    def __repr__(self) -> str:
        return "<sympy expression>"


def encode(value: Any, tensors: list[torch.Tensor], depth: int = 0) -> Any:
    """Turn ``value`` into JSON-compatible data, moving tensors into ``tensors``."""
    if depth > _MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if type(value) is not int:
            return {"__object__": type(value).__qualname__}
        # The grader reads no wider integer (see _number): a huge one is named, not sent.
        in_range = -_INT64 <= value < _INT64
        return value if in_range else {"__object__": f"int of {value.bit_length()} bits"}
    if isinstance(value, float):
        return {"__float__": repr(value)} if not math.isfinite(value) else value
    if isinstance(value, torch.Tensor):
        if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter:
            return {"__object__": f"tensor subclass {type(value).__qualname__}"}
        odd = _odd_kind(value)
        if odd:
            return {"__object__": odd}
        tensor = value.detach().to("cpu")
        if tensor.dim() >= 2 and not tensor.is_contiguous() and tensor.mT.is_contiguous():
            # A transposed matrix travels as its transpose and arrives transposed again, so a
            # check can hand student code a non-contiguous input (one .view(-1) refuses).
            tensors.append(tensor.mT)
            return {"__tensor__": len(tensors) - 1, "device": str(value.device), "mT": True}
        tensors.append(tensor)
        return {"__tensor__": len(tensors) - 1, "device": str(value.device)}
    if isinstance(value, SympyTree):
        return {"__sympy__": value.tree}
    if isinstance(value, Probe):
        return {"__probe__": value.name}
    if isinstance(value, torch.Generator):
        # Sent as its state, so both sides draw the same numbers from it.
        tensors.append(value.get_state())
        return {"__generator__": len(tensors) - 1}
    if isinstance(value, list | tuple):
        key = "__list__" if isinstance(value, list) else "__tuple__"
        return {key: [encode(item, tensors, depth + 1) for item in value]}
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return {"__dict__": {k: encode(v, tensors, depth + 1) for k, v in value.items()}}
    if type(value).__module__.split(".")[0] == "sympy":
        return {"__sympy__": _sympy_to_data(value, depth)}
    return {"__object__": type(value).__qualname__}


def _odd_kind(tensor: torch.Tensor) -> str:
    """What makes ``tensor`` other than a dense tensor of numbers ("" when nothing does).

    The grader compares dense strided tensors only: a sparse, quantized or meta tensor would
    make its arithmetic fail, so it is named as an object instead of sent.
    """
    if tensor.layout is not torch.strided:
        return f"{str(tensor.layout).removeprefix('torch.')} tensor"
    if tensor.is_quantized:
        return "quantized tensor"
    if tensor.is_meta:
        return "meta tensor (no data)"
    if str(tensor.dtype).removeprefix("torch.") not in _DTYPES:
        return f"tensor of dtype {tensor.dtype}"
    return ""


def _sympy_to_data(expr: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise WireError("expression nested too deeply")
    name = type(expr).__name__
    if getattr(expr, "is_Symbol", False):
        return {"symbol": str(expr.name)}
    if getattr(expr, "is_Integer", False):
        return {"integer": str(int(expr))}
    if getattr(expr, "is_Rational", False):
        return {"rational": [str(int(expr.p)), str(int(expr.q))]}
    if getattr(expr, "is_Float", False):
        return {"float": str(expr)}
    args = getattr(expr, "args", ())
    return {"func": name, "args": [_sympy_to_data(arg, depth + 1) for arg in args]}


def decode(data: Any, tensors: list[torch.Tensor], depth: int = 0) -> Any:
    """Inverse of :func:`encode`, validating every node."""
    if depth > _MAX_DEPTH:
        raise WireError("value nested too deeply")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        raise WireError("bare list in message")
    if isinstance(data, dict) and "__tensor__" in data:
        index = data["__tensor__"]
        if type(index) is not int or not 0 <= index < len(tensors):
            raise WireError("bad tensor reference")
        transposed = data.get("mT", False)
        if set(data) - {"mT"} != {"__tensor__", "device"} or device_of(data) is None:
            raise WireError("malformed tensor reference")
        if transposed is not True and transposed is not False:
            raise WireError("malformed tensor reference")
        if transposed and tensors[index].dim() < 2:
            raise WireError("transposed tensor of fewer than 2 dimensions")
        return tensors[index].mT if transposed else tensors[index]
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError("malformed value in message")
    ((key, inner),) = data.items()
    if key == "__float__":
        return float(inner) if inner in ("nan", "inf", "-inf") else _fail("bad float")
    if key in ("__list__", "__tuple__") and isinstance(inner, list):
        items = [decode(item, tensors, depth + 1) for item in inner]
        return items if key == "__list__" else tuple(items)
    if key == "__dict__" and isinstance(inner, dict):
        return {str(k): decode(v, tensors, depth + 1) for k, v in inner.items()}
    if key == "__sympy__":
        _check_sympy_tree(inner, [0], depth)
        return SympyTree(inner)
    if key == "__generator__":
        if type(inner) is not int or not 0 <= inner < len(tensors):
            raise WireError("bad generator state reference")
        generator = torch.Generator()
        try:
            generator.set_state(tensors[inner])
        except (RuntimeError, TypeError) as exc:
            raise WireError(f"bad generator state: {exc}") from None
        return generator
    if key == "__probe__" and isinstance(inner, str):
        try:
            return Probe(inner)
        except ValueError as exc:
            raise WireError(str(exc)) from None
    if key == "__object__" and isinstance(inner, str):
        return ForeignObject(inner[:200])
    raise WireError(f"unknown value kind {key!r}")


def _fail(reason: str) -> Any:
    raise WireError(reason)


# The leaves of an expression's data (see _sympy_to_data) and the shape of their values; names
# (of symbols, of functions) are any short text, which the rebuild looks up in its own tables.
_NAME = re.compile(r".*", re.DOTALL)
_SYMPY_LEAVES = {
    "symbol": _NAME,
    "integer": re.compile(r"-?[0-9]+"),
    "float": re.compile(r"[-+0-9.eE]+|[-+]?(inf|nan)"),
}


def _check_sympy_tree(node: Any, count: list[int], depth: int) -> None:
    """Refuse an expression's data unless it is nodes of the shapes that encode makes, with at
    most MAX_SYMPY_NODES nodes and leaves of bounded length (the rebuild judges the rest)."""
    count[0] += 1
    if count[0] > MAX_SYMPY_NODES:
        raise WireError(f"the expression has more than {MAX_SYMPY_NODES} nodes")
    if depth > _MAX_DEPTH:
        raise WireError("expression nested too deeply")
    if not isinstance(node, dict) or not node:
        raise WireError("malformed expression")
    key = next(iter(node))
    if key == "func":
        name, args = node.get("func"), node.get("args")
        if set(node) != {"func", "args"} or not _is_text(name, _NAME):
            raise WireError("malformed expression node")
        if not isinstance(args, list):
            raise WireError("malformed expression arguments")
        for arg in args:
            _check_sympy_tree(arg, count, depth + 1)
        return
    if len(node) != 1:
        raise WireError("malformed expression leaf")
    value = node[key]
    if key == "rational" and isinstance(value, list) and len(value) == 2:
        if all(_is_text(part, _SYMPY_LEAVES["integer"]) for part in value):
            return
    elif key in _SYMPY_LEAVES and _is_text(value, _SYMPY_LEAVES[key]):
        return
    raise WireError(f"malformed expression leaf {str(key)[:40]!r}")


def _is_text(value: Any, pattern: re.Pattern[str]) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= _MAX_SYMPY_TEXT
        and pattern.fullmatch(value) is not None
    )


def device_of(data: Any) -> str | None:
    """The device a worker reported for an encoded tensor (``None`` for anything else)."""
    if isinstance(data, dict) and "__tensor__" in data:
        device = data.get("device")
        if isinstance(device, str) and len(device) <= _MAX_DEVICE_CHARS:
            return device
    return None


def pack(header: dict[str, Any], tensors: list[torch.Tensor]) -> bytes:
    """Serialise one message."""
    layout = []
    chunks = []
    for tensor in tensors:
        # A fresh 1-d copy: a "contiguous" tensor may still have odd strides on dimensions of
        # size 1, which the byte view refuses.
        flat = torch.empty(tensor.numel(), dtype=tensor.dtype)
        flat.copy_(tensor.detach().reshape(-1))
        data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        layout.append([str(tensor.dtype).removeprefix("torch."), list(tensor.shape)])
        chunks.append(data + bytes(-len(data) % _ALIGN))
    head = json.dumps({"header": header, "tensors": layout}, allow_nan=False).encode()
    blob = b"".join(chunks)
    return _LENGTHS.pack(len(head), len(blob)) + head + blob


def write_message(fd: int, header: dict[str, Any], tensors: list[torch.Tensor]) -> None:
    """Write one whole message to a file descriptor."""
    view = memoryview(pack(header, tensors))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def parse_lengths(prefix: bytes, limit: int, head_limit: int = MAX_HEAD_BYTES) -> tuple[int, int]:
    """Read the two announced lengths, refusing a message over ``limit`` bytes or a header over
    ``head_limit``."""
    head_len, blob_len = _LENGTHS.unpack(prefix)
    if head_len + blob_len > limit:
        raise WireError(f"message of {head_len + blob_len} bytes exceeds the {limit}-byte limit")
    if head_len > head_limit:
        raise WireError(f"header of {head_len} bytes exceeds the {head_limit}-byte limit")
    return head_len, blob_len


PREFIX_SIZE = _LENGTHS.size


def unpack(
    head: bytes, blob: bytes, parse: Callable[[bytes], Any] | None = None
) -> tuple[dict[str, Any], list[torch.Tensor]]:
    """Parse a message's header (with ``parse``, by default within a reply's bounds) and its
    tensors, accepting only plain tensors."""
    message = (parse or parse_header)(head)
    if not isinstance(message, dict) or not isinstance(message.get("header"), dict):
        raise WireError("header is not an object")
    layout = message.get("tensors")
    if not isinstance(layout, list):
        raise WireError("malformed tensor layout")
    # One writable copy that the tensors share: frombuffer refuses read-only memory.
    buffer = bytearray(blob)
    tensors: list[torch.Tensor] = []
    offset = 0
    for entry in layout:
        dtype, shape = _tensor_layout(entry)
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(buffer):
            raise WireError("tensor bytes shorter than announced")
        if size:
            flat = torch.frombuffer(buffer, dtype=dtype, count=math.prod(shape), offset=offset)
            tensors.append(flat.reshape(shape))
        else:
            tensors.append(torch.empty(shape, dtype=dtype))
        offset += size + (-size % _ALIGN)
    if offset != len(buffer):
        raise WireError("tensor bytes longer than announced")
    return message["header"], tensors


def _tensor_layout(entry: Any) -> tuple[torch.dtype, list[int]]:
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list)):
        raise WireError("malformed tensor layout")
    name, shape = entry
    dtype = _DTYPES.get(name) if isinstance(name, str) else None
    if dtype is None:
        raise WireError(f"tensor of unknown dtype {str(name)[:40]!r}")
    if len(shape) > _MAX_DIMENSIONS or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("malformed tensor shape")
    # Counted as if empty dimensions were 1: PyTorch cannot describe [0, 2**70] either.
    if math.prod(max(n, 1) for n in shape) > _MAX_ELEMENTS:
        raise WireError("tensor shape too large")
    return dtype, shape


def parse_header(head: bytes) -> Any:
    """``json.loads(head)`` within the bounds of a header, checked before anything is built.

    The bytes are measured first (size, number of items, nesting depth, in C or in tensor
    operations), then numbers are parsed only if they are short and finite.
    """
    if len(head) > MAX_HEAD_BYTES:
        raise WireError(f"header of {len(head)} bytes exceeds the {MAX_HEAD_BYTES}-byte limit")
    # Counted with what strings hold: an upper bound, one copy of the header at most.
    structure = head.translate(None, _NOT_STRUCTURE)
    if len(structure) > _MAX_ITEMS:
        raise WireError(f"header of more than {_MAX_ITEMS} items")
    # Strings may hold brackets, which are text: measured again without them (only then, as
    # emptying every string costs a piece of memory per string).
    if (
        _depth(structure) > _MAX_JSON_DEPTH
        and _depth(_STRING.sub(b'""', head).translate(None, _NOT_STRUCTURE)) > _MAX_JSON_DEPTH
    ):
        raise WireError(f"header nested more than {_MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(
            head, parse_int=_number(int), parse_float=_number(float), parse_constant=_constant
        )
    except (ValueError, RecursionError) as exc:
        raise WireError(f"unreadable header: {str(exc)[:200]}") from None


def _depth(structure: bytes) -> int:
    """How deep the brackets of ``structure`` nest, in one pass of tensor operations."""
    if not structure:
        return 0
    codes = torch.frombuffer(bytearray(structure), dtype=torch.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    closes = (codes == ord("]")) | (codes == ord("}"))
    return int((opens.to(torch.int32) - closes.to(torch.int32)).cumsum(0).max())


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > _MAX_NUMBER_CHARS:
            raise WireError(f"number of {len(text)} characters in a header")
        number = kind(text)
        if isinstance(number, int) and not -_INT64 <= number < _INT64:
            raise WireError("integer beyond 64 bits in a header")
        if isinstance(number, float) and not math.isfinite(number):
            raise WireError("infinite number in a header (send it as __float__)")
        return number

    return parse


def _constant(text: str) -> Any:
    raise WireError(f"{text} in a header (send it as __float__)")


def read_message(fd: int, limit: int) -> tuple[dict[str, Any], list[torch.Tensor]]:
    """Blocking read of one message (used by the worker, which trusts its grader: a request
    holds a whole notebook cell, and no bound on replies applies to it)."""
    head_len, blob_len = parse_lengths(_read_exact(fd, PREFIX_SIZE), limit, head_limit=limit)
    return unpack(_read_exact(fd, head_len), _read_exact(fd, blob_len), json.loads)


def _read_exact(fd: int, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks += chunk
    return bytes(chunks)
