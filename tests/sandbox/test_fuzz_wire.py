"""Fuzzing what the grader reads from a worker: any header and any bytes end as a decoded value
or a WireError (the student's ``error``), never another exception of the grader (issue 17)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepgrade.sandbox import wire
from deepgrade.sandbox.replies import check_reply

# The keys the decoder and the reply schema know, so that fuzzed data reaches their branches.
KEYS = [
    "__tensor__",
    "device",
    "mT",
    "__list__",
    "__tuple__",
    "__dict__",
    "__float__",
    "__sympy__",
    "__generator__",
    "__probe__",
    "__object__",
    "func",
    "args",
    "symbol",
    "integer",
    "rational",
    "float",
    "ok",
    "value",
    "grads",
    "error",
    "output",
    "names",
    "forbidden_used",
    "type",
    "message",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["nan", "inf", "-inf", "cpu", "1", "Add", "x", "float32"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=20,
)
dtypes = st.sampled_from([*wire._DTYPES, "object", "float128", ""])
layouts = st.lists(
    st.tuples(dtypes, st.lists(st.integers(-2, 2**64), max_size=4)).map(list) | json_values,
    max_size=3,
)


def _accepts_or_refuses(head: bytes, blob: bytes) -> None:
    """What the grader does with one message: unpack, check the reply, decode its values."""
    try:
        header, tensors = wire.unpack(head, blob)
        reply = check_reply(header, output_limit=4000)
        wire.decode(reply.get("value"), tensors)
        for grad in reply.get("grads", []):
            wire.decode(grad, tensors)
            wire.device_of(grad)
    except wire.WireError:
        pass


@given(json_values, layouts, st.binary(max_size=64))
def test_any_header_is_decoded_or_refused(value: Any, layout: Any, blob: bytes) -> None:
    for header in (value, {"ok": True, "value": value, "grads": [value]}):
        head = json.dumps({"header": header, "tensors": layout}).encode()
        _accepts_or_refuses(head, blob)


@given(json_values, st.binary(max_size=64))
def test_values_are_decoded_or_refused(value: Any, blob: bytes) -> None:
    layout = [["float32", [len(blob) // 4]]]
    head = json.dumps({"header": {"ok": True, "value": value}, "tensors": layout}).encode()
    _accepts_or_refuses(head, blob[: len(blob) // 4 * 4] + bytes(-len(blob) // 4 * 4 % 16))


@given(st.binary(max_size=300), st.binary(max_size=64))
def test_any_bytes_are_decoded_or_refused(head: bytes, blob: bytes) -> None:
    _accepts_or_refuses(head, blob)


@given(st.data())
def test_damaged_messages_are_decoded_or_refused(data: st.DataObject) -> None:
    """A real reply with one of its header's bytes changed."""
    tensors: list[torch.Tensor] = []
    value = wire.encode({"a": [torch.arange(3.0), 1.5, (None, "x")], "b": math.inf}, tensors)
    message = wire.pack({"ok": True, "value": value, "grads": [], "output": ""}, tensors)
    head_len, _ = wire.parse_lengths(message[: wire.PREFIX_SIZE], 1 << 20)
    start = wire.PREFIX_SIZE
    head = bytearray(message[start : start + head_len])
    where = data.draw(st.integers(0, len(head) - 1))
    head[where] = data.draw(st.integers(0, 255))
    _accepts_or_refuses(bytes(head), message[start + head_len :])


def test_hostile_headers_are_refused_by_their_bounds() -> None:
    """Each bound on a header, measured before the JSON is built."""
    cases = {
        b"[" * 100_000 + b"]" * 100_000: "nested more than",
        b'{"a": ' + b"9" * 5000 + b"}": "number of 5000 characters",
        b'{"a": 1e999}': "infinite number",
        b'{"a": NaN}': "NaN in a header",
        b'{"a": -Infinity}': "-Infinity in a header",
        b'{"a": 9223372036854775808}': "beyond 64 bits",
        b"[" + b"0," * 300_000 + b"0]": "more than 200000 items",
        b'"' + b"x" * (wire.MAX_HEAD_BYTES + 1) + b'"': "exceeds",
    }
    for head, reason in cases.items():
        try:
            wire.parse_header(head)
        except wire.WireError as refused:
            assert reason in str(refused), (reason, str(refused))
        else:
            raise AssertionError(f"accepted a header that should fail with {reason!r}")


def test_brackets_inside_strings_are_not_structure() -> None:
    """A string full of brackets and escaped quotes is text, however deep it looks."""
    text = '\\"[[[' * 1000 + "{" * 1000
    assert wire.parse_header(json.dumps({"a": text}).encode()) == {"a": text}


def test_the_largest_honest_values_still_cross() -> None:
    """Values nested to the encoder's own limit, and a list of 100 000 numbers."""
    nested: Any = 1.0
    for _ in range(60):
        nested = [nested]
    for value in (nested, list(range(100_000))):
        tensors: list[torch.Tensor] = []
        head = json.dumps({"header": {"v": wire.encode(value, tensors)}, "tensors": []})
        header, _ = wire.unpack(head.encode(), b"")
        assert wire.decode(header["v"], []) == value


def test_a_transposed_matrix_arrives_transposed() -> None:
    """So that a check can give student code a non-contiguous input (lab4's numerical_gradient
    must not .view(-1) x itself); a contiguous tensor is sent as it is."""
    base = torch.arange(24.0).reshape(2, 3, 4)
    tensors: list[torch.Tensor] = []
    encoded = [wire.encode(base.mT, tensors), wire.encode(base, tensors)]
    message = wire.pack({"v": encoded}, tensors)
    head_len, _ = wire.parse_lengths(message[: wire.PREFIX_SIZE], 1 << 20)
    head = message[wire.PREFIX_SIZE : wire.PREFIX_SIZE + head_len]
    header, received = wire.unpack(head, message[wire.PREFIX_SIZE + head_len :])
    transposed, contiguous = (wire.decode(value, received) for value in header["v"])
    assert not transposed.is_contiguous() and torch.equal(transposed, base.mT)
    assert contiguous.is_contiguous() and torch.equal(contiguous, base)
    for bad in (1, "yes"):
        with pytest.raises(wire.WireError, match="malformed tensor reference"):
            wire.decode({"__tensor__": 0, "device": "cpu", "mT": bad}, received)
    with pytest.raises(wire.WireError, match="fewer than 2 dimensions"):
        wire.decode({"__tensor__": 0, "device": "cpu", "mT": True}, [torch.zeros(3)])


def test_integers_beyond_64_bits_are_named_not_sent() -> None:
    tensors: list[torch.Tensor] = []
    sent = wire.decode(wire.encode(10**4000, tensors), tensors)
    assert isinstance(sent, wire.ForeignObject)
    assert sent.type_name == "int of 13288 bits"


def test_shapes_that_overflow_are_refused() -> None:
    for shape in ([0, 2**62, 4], [2**49], [0] + [2**10] * 10):
        head = json.dumps({"header": {}, "tensors": [["float32", shape]]}).encode()
        try:
            wire.unpack(head, b"")
        except wire.WireError as refused:
            assert "shape too large" in str(refused)
        else:
            raise AssertionError(f"accepted the shape {shape}")
