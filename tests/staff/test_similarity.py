"""grade similarity: disguised copies are found, honest work and the course's own code are not.

Most tests compare small modules built from the Lab 2 solution in a temporary folder (a
second or less each); one reads the example class, whose planted copies must come first.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from deepgrade.model.spec import LabSpec, course_roots, find_lab
from deepgrade.staff.similarity import SimilarityOptions, find_similar, pairs
from deepgrade.staff.similarity.fingerprints import (
    MAX_CODE_CHARS,
    all_hashes,
    fingerprints,
    segments,
)
from deepgrade.staff.similarity.pairs import compare, document
from deepgrade.staff.similarity.report import HTML_FILE, JSON_FILE, write_reports
from tests.helpers import OWN_CODE, RENAMED, ROOT, SOLUTION, patched

pytestmark = pytest.mark.lab2

CLASS = ROOT / "examples" / "class"


def _reordered(source: str) -> str:
    """Definitions in reverse order, two-space indents, one call wrapped over three lines."""
    cells = re.split(r"(?m)^(?=# %%)", source)
    flipped = [
        "# %%\n" + "\n\n\n".join(reversed(re.split(r"\n\n\n(?=\S)", cell[5:].strip("\n"))))
        if cell.startswith("# %%\nclass ")
        else cell
        for cell in cells
    ]
    text = re.sub(r"(?m)^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), "\n".join(flipped))
    return text.replace(
        "total = tops.sum(dim=dim, keepdim=True)",
        "total = tops.sum(\n    dim=dim,\n    keepdim=True,\n)",
    )


@pytest.fixture(scope="module")
def lab2() -> LabSpec:
    return find_lab("lab2", course=course_roots(), include_hidden=False)


def _write(folder: Path, sources: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for student, source in sources.items():
        (folder / f"{student}.py").write_text(source, encoding="utf-8")
    return folder


def _pairs(report: Any) -> list[tuple[str, str]]:
    return [(pair.a, pair.b) for pair in report.pairs]


# Honest students: the solution with a different ordinary slip each, as in the example class.
HONEST = {
    "hana": [("return grad_output * y * (1 - y)", "return y * (1 - y)")],
    "ivan": [("torch.where(x > 0, grad_output, 0.0)", "torch.where(x >= 0, grad_output, 0.0)")],
    "jade": [("return (x >= 0).to(x.dtype)", "return (x > 0).to(x.dtype)")],
    "kofi": [("return 1 - sympy.tanh(x) ** 2", "return 1 + sympy.tanh(x) ** 2")],
    "lena": [],
}


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sources = {name: patched(SOLUTION, edits) for name, edits in HONEST.items()}
    sources |= {"amy": OWN_CODE, "ben": RENAMED, "cal": _reordered(OWN_CODE)}
    return _write(tmp_path_factory.mktemp("similar") / "class", sources)


@pytest.fixture(scope="module")
def small_report(small_class: Path) -> Any:
    return find_similar(small_class, "lab2")


def test_renamed_and_reordered_copies_are_flagged_and_honest_work_is_not(small_report: Any) -> None:
    assert sorted(_pairs(small_report)) == [("amy", "ben"), ("amy", "cal"), ("ben", "cal")]
    assert small_report.flagged_pairs == 3
    for pair in small_report.pairs:
        assert pair.share == 1.0
        assert {m.exercise for m in pair.flagged} == {"lab2.softmax"}
        assert pair.matched >= 30


def test_renaming_comments_whitespace_and_order_change_no_fingerprint() -> None:
    def prints(source: str) -> set[int]:
        return {fp.hash for fp in fingerprints(segments([("cell", source)]))}

    original = prints(OWN_CODE)
    assert prints(RENAMED) == original
    assert prints(_reordered(OWN_CODE)) == original


def test_the_solutions_and_stubs_code_never_counts(tmp_path: Path, lab2: LabSpec) -> None:
    stub = (ROOT / "exercises" / "lab2_activations" / "lab2_activations.py").read_text("utf-8")
    report = find_similar(
        _write(tmp_path / "class", {"a": SOLUTION, "b": SOLUTION, "c": stub, "d": stub}), "lab2"
    )
    assert report.pairs == [] and report.flagged_pairs == 0
    assert len(report.excluded) == 4
    # Without the exclusions, the same submissions are copies of one another.
    documents = [
        document(n, "x.py", [("cell", s)], lab2) for n, s in [("a", SOLUTION), ("b", SOLUTION)]
    ]
    pairs, _ = compare(documents, set(), SimilarityOptions())
    assert _pairs_of(pairs) == [("a", "b")]
    # A copy of the solution with one's own exercise on top: only that exercise is compared.
    excluded = all_hashes(segments([("solution", SOLUTION)]))
    documents = [document(n, "x.py", [("cell", OWN_CODE)], lab2) for n in ("a", "b")]
    (pair,), _ = compare(documents, excluded, SimilarityOptions())
    assert [m.exercise for m in pair.exercises] == ["lab2.softmax", "lab2.prelu"]


def _pairs_of(pairs: list[Any]) -> list[tuple[str, str]]:
    return [(pair.a, pair.b) for pair in pairs]


def test_common_code_is_discounted(tmp_path: Path) -> None:
    """The same own code in more than a share of the class is common knowledge."""
    sources = {f"s{k}": OWN_CODE for k in range(6)}
    report = find_similar(_write(tmp_path / "class", sources), "lab2")
    assert report.common_limit == 4 and report.pairs == []
    kept = find_similar(tmp_path / "class", "lab2", options=SimilarityOptions(common=1.0))
    assert kept.flagged_pairs == 15


def test_a_file_that_does_not_parse_is_compared_as_tokens(tmp_path: Path) -> None:
    broken = OWN_CODE.replace(
        "def softmax(x: torch.Tensor, dim: int = -1)", "def softmax(x, dim=-1"
    )
    assert broken != OWN_CODE
    report = find_similar(
        _write(tmp_path / "class", {"amy": OWN_CODE, "eve": broken, "lena": SOLUTION}), "lab2"
    )
    assert _pairs(report) == [("amy", "eve")]
    (note,) = report.notes["eve"]
    assert re.fullmatch(r"cell \d+ does not parse: compared as tokens", note)
    assert {m.exercise for m in report.pairs[0].flagged} == {"lab2.softmax"}


def test_a_huge_or_unreadable_submission_is_bounded_or_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = len(OWN_CODE) + 2000  # smaller than the real bound, for speed: the same code path
    monkeypatch.setattr(pairs, "MAX_CODE_CHARS", bound)
    filler = "junk = [" + "1, " * bound + "]\n"
    folder = _write(tmp_path / "class", {"amy": OWN_CODE, "hugo": f"{OWN_CODE}\n# %%\n{filler}"})
    (folder / "dan.ipynb").write_text('{"cells": [', encoding="utf-8")
    report = find_similar(folder, "lab2")
    assert _pairs(report) == [("amy", "hugo")]
    cut, unparsed = report.notes["hugo"]
    assert cut == f"only the first {bound} characters of code were compared"
    assert unparsed.endswith("does not parse: compared as tokens")  # the cell cut short
    assert [s.student for s in report.skipped] == ["dan"]
    assert "not a valid notebook" in report.skipped[0].reason


@pytest.mark.parametrize(
    "code",
    ["(" * 5000 + "x", 'x = """' + "never closed\n" * 50, "a = 1\0b = 2\n", "def f(:\n  \\\n"],
    ids=["nested", "unclosed", "nul", "garbage"],
)
def test_hostile_code_is_tokenised_not_parsed(code: str) -> None:
    found = segments([("cell 1", code)])
    assert found and all(not segment.parsed for segment in found)
    fingerprints(found)  # no error, whatever the text


def test_tokenising_is_linear_in_the_size_of_the_code() -> None:
    code = "junk = [" + "1, " * (MAX_CODE_CHARS // 3) + "]\n"
    began = time.process_time()
    assert len(fingerprints(segments([("cell", code)]))) > MAX_CODE_CHARS // 20
    # About 0.6 s of CPU on a loaded two-core machine.
    assert time.process_time() - began < 10


def test_the_report_marks_the_shared_code_side_by_side(tmp_path: Path, small_report: Any) -> None:
    json_path, html_path = write_reports(small_report, tmp_path / "out")
    assert (json_path.name, html_path.name) == (JSON_FILE, HTML_FILE)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    softmax = next(m for m in data["pairs"][0]["exercises"] if m["exercise"] == "lab2.softmax")
    for side in ("a", "b"):
        marked = "".join(s["text"][a:b] for s in softmax[side] for a, b in s["marks"])
        assert ").exp()" in marked and "x.max(dim=dim" in marked
    page = html_path.read_text(encoding="utf-8")
    assert page.count('<mark class="match">') >= 12
    assert "Staff only" in page and page.count('class="sides"') >= 3


def test_student_text_is_escaped_in_the_report(tmp_path: Path) -> None:
    attack = OWN_CODE.replace(
        "# shift by the largest logit first", "# </pre><script>alert(1)</script>"
    )
    report = find_similar(_write(tmp_path / "class", {"amy": OWN_CODE, "mal": attack}), "lab2")
    _, html_path = write_reports(report, tmp_path / "out")
    page = html_path.read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page


@cache
def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_class", ROOT / "examples" / "make_class.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed class, once regenerated with its copies; until then, generated here."""
    key = json.loads((CLASS / "planted.json").read_text(encoding="utf-8"))
    if any("copy_of" in entry for entry in key["lab2"].values()):
        return CLASS
    folder = tmp_path_factory.mktemp("example")
    _generator().write_class(folder)
    return folder


def test_the_example_classs_planted_copies_come_first_and_alone(example_class: Path) -> None:
    key = json.loads((example_class / "planted.json").read_text(encoding="utf-8"))["lab2"]
    copies = {s: e for s, e in key.items() if "copy_of" in e}
    assert sorted(e["disguise"] for e in copies.values()) == ["renamed", "reordered"]
    (source,) = {e["copy_of"] for e in copies.values()}
    trio = sorted([source, *copies])
    report = find_similar(example_class / "submitted", "lab2")
    expected = [(a, b) for i, a in enumerate(trio) for b in trio[i + 1 :]]
    assert sorted(_pairs(report)) == expected
    # Honest students who made the same mistake share a line or two: below the threshold.
    assert report.flagged_pairs == 3
    assert all(pair.share >= 0.9 and len(pair.flagged) >= 2 for pair in report.pairs)


@pytest.mark.browser
def test_the_marks_show_in_chromium(tmp_path: Path, small_report: Any) -> None:
    """The marked code is visibly highlighted on both sides of the page (mark.match's yellow)."""
    from matplotlib.image import imread

    from tests.reports.test_html_reports import _chromium

    _, page = write_reports(small_report, tmp_path / "out")
    shot = tmp_path / "shot.png"
    _chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2400")
    pixels = imread(shot)[..., :3]
    yellow = (abs(pixels - [1.0, 0xE0 / 255, 0x8A / 255]).max(axis=2) < 0.05).any(axis=0)
    width = pixels.shape[1]
    assert yellow[: width // 2].any() and yellow[width // 2 :].any()
