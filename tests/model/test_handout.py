"""The checks cell of a released notebook: what it packs comes back out, and any other text,
edited, cut short or built to hurt, ends as a ``SpecError`` with a reason (issue 13)."""

from __future__ import annotations

import base64
import json
import lzma
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepgrade.errors import SpecError
from deepgrade.model import handout

FILES = {"lab.toml": b'id = "lab2"\n', "recorded.pt": bytes(range(256)) * 40}


@pytest.fixture
def packed(tmp_path: Path) -> handout.Handout:
    folder = tmp_path / "lab2_activations"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    return handout.pack("lab2", folder)


def _cell(header: object, body: bytes, lab: str = "lab2", version: str = "0") -> str:
    payload = json.dumps(header).encode() + b"\n" + body
    data = base64.b64encode(lzma.compress(payload)).decode()
    return f'use_checks("{lab}", "{version}", """{data}""")'


def test_what_is_packed_comes_back(packed: handout.Handout, tmp_path: Path) -> None:
    text = handout.cell_source(packed)
    assert text.startswith("#@title The checks of lab2")
    assert max(len(line) for line in text.splitlines()) <= 100
    call = handout.find_call(text)
    assert call is not None and handout.lab_of(call) == "lab2"
    assert handout.version_of(call) == packed.version
    back = handout.parse(text)
    assert back == packed
    written = back.write(tmp_path / "out")
    assert {p.name: p.read_bytes() for p in written.iterdir()} == FILES


def test_an_edited_cell_is_refused(packed: handout.Handout) -> None:
    text = handout.cell_source(packed)
    with pytest.raises(SpecError, match="edited"):
        handout.parse(text.replace(packed.version, "0" * 12))
    with pytest.raises(SpecError, match="edited"):
        handout.parse(text.replace('"lab2"', '"lab3"', 1))
    lines = text.splitlines()
    middle = len(lines) // 2
    with pytest.raises(SpecError, match="damaged"):
        handout.parse("\n".join(lines[:middle] + lines[middle + 1 :]))


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        ({"format": 2}, b"", "another version"),
        ([], b"", "another version"),
        (
            {"format": 1, "lab": "lab2", "folder": "../x", "released": "", "files": []},
            b"",
            "malformed",
        ),
        (
            {
                "format": 1,
                "lab": "lab2",
                "folder": "f",
                "released": "",
                "files": [["../lab.toml", 1]],
            },
            b"x",
            "malformed",
        ),
        (
            {"format": 1, "lab": "lab2", "folder": "f", "released": "", "files": [["lab.toml", 5]]},
            b"x",
            "malformed",
        ),
        (
            {
                "format": 1,
                "lab": "lab2",
                "folder": "f",
                "released": "",
                "files": [["lab.toml", 1], ["lab.toml", 0]],
            },
            b"x",
            "malformed",
        ),
        (
            {"format": 1, "lab": "lab2", "folder": "f", "released": "", "files": [["lab.toml", 1]]},
            b"xy",
            "does not match",
        ),
        (
            {"format": 1, "lab": "lab2", "folder": "f", "released": "", "files": []},
            b"",
            "does not match",
        ),
    ],
)
def test_a_malformed_header_is_refused(header: object, body: bytes, reason: str) -> None:
    with pytest.raises(SpecError, match=reason):
        handout.parse(_cell(header, body))


def test_what_would_unpack_to_too_much_is_refused() -> None:
    bomb = base64.b64encode(lzma.compress(b"\0" * (80 << 20))).decode()
    with pytest.raises(SpecError, match="too large"):
        handout.parse(f'use_checks("lab2", "0", """{bomb}""")')
    with pytest.raises(SpecError, match="too large"):
        handout.parse("#" * (handout.MAX_TEXT + 1))


@given(st.text(alphabet="ABCabc+/=\n\"'()_ use_checkslab0123", max_size=400))
def test_any_text_is_a_handout_or_a_spec_error(text: str) -> None:
    try:
        handout.parse(f'use_checks("lab2", "0", """{text}""")')
        handout.parse(text)
    except SpecError:
        pass
