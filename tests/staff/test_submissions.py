"""Finding submissions in every layout and opening them safely, without grading anything."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import pytest

from deepgrade.engine.archives import choose_file, extract_archive
from deepgrade.errors import SubmissionError, UsageError
from deepgrade.model.spec import LabSpec, load_lab
from deepgrade.staff.submissions import (
    FoundSubmission,
    SourceKind,
    find_submissions,
    open_submission,
)
from tests.helpers import ROOT

NOTEBOOK = "lab2_activations.ipynb"
MODULE = "lab2_activations.py"


@pytest.fixture(scope="module")
def lab() -> LabSpec:
    return load_lab(ROOT / "autograder" / "lab2_activations")


def touch(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def summary(found: list[FoundSubmission]) -> list[tuple[str, str, str]]:
    return [(f.student, f.kind.value, f.source.name) for f in found]


def graded_file(found: FoundSubmission, lab: LabSpec) -> str:
    with open_submission(found, lab) as (_, inside):
        return inside


def test_nbgrader_course_and_its_submitted_folder(tmp_path: Path, lab: LabSpec) -> None:
    submitted = tmp_path / "course" / "submitted"
    touch(submitted / "alice" / "lab2_activations" / NOTEBOOK)
    touch(submitted / "alice" / "lab2_activations" / "timestamp.txt", "2024-01-01")
    touch(submitted / "bob" / "lab2_activations" / "my_work.ipynb")
    # carol handed in Lab 1 only: her Lab 1 notebook must not be graded as Lab 2.
    touch(submitted / "carol" / "lab1_linear" / "lab1_linear.ipynb")
    expected = [("alice", "folder", "lab2_activations"), ("bob", "folder", "lab2_activations")]
    assert summary(find_submissions(tmp_path / "course", lab)) == expected
    found = find_submissions(submitted, lab)
    assert summary(found) == expected
    assert [graded_file(f, lab) for f in found] == [NOTEBOOK, "my_work.ipynb"]


def test_student_folders_zips_and_files_mixed(tmp_path: Path, lab: LabSpec) -> None:
    root = tmp_path / "class"
    touch(root / "alice" / NOTEBOOK)
    touch(root / "bob" / "deep" / "er" / "answers.py")
    make_zip(root / "carol.zip", {"carol/lab2/" + NOTEBOOK: "{}", "carol/README.md": "hi"})
    touch(root / "dave.ipynb")
    touch(root / "notes.txt")
    touch(root / ".hidden" / NOTEBOOK)
    found = find_submissions(root, lab)
    assert summary(found) == [
        ("alice", "folder", "alice"),
        ("bob", "folder", "bob"),
        ("carol", "archive", "carol.zip"),
        ("dave", "file", "dave.ipynb"),
    ]
    assert [graded_file(f, lab) for f in found] == [
        NOTEBOOK,
        "deep/er/answers.py",
        f"carol/lab2/{NOTEBOOK}",
        "dave.ipynb",
    ]


def test_extracted_archive_is_removed_after_use(tmp_path: Path, lab: LabSpec) -> None:
    make_zip(tmp_path / "erin.zip", {NOTEBOOK: "{}"})
    (found,) = find_submissions(tmp_path, lab)
    with open_submission(found, lab) as (path, _):
        assert path.read_text() == "{}"
    assert not path.exists()


def test_a_student_who_handed_in_twice_is_a_submission_error(tmp_path: Path, lab: LabSpec) -> None:
    touch(tmp_path / "alice" / NOTEBOOK)
    make_zip(tmp_path / "alice.zip", {NOTEBOOK: "{}"})
    (found,) = find_submissions(tmp_path, lab)
    assert found.problem == "2 submissions for alice: alice, alice.zip"
    with pytest.raises(SubmissionError, match="2 submissions for alice"):
        graded_file(found, lab)


def test_the_output_folder_among_the_submissions_is_passed_over(
    tmp_path: Path, lab: LabSpec
) -> None:
    touch(tmp_path / "alice" / NOTEBOOK)
    touch(tmp_path / "out" / "results" / "alice.json", "{}")
    found = find_submissions(tmp_path, lab, exclude=tmp_path / "out")
    assert [f.student for f in found] == ["alice"]


def test_choice_of_the_file_to_grade(tmp_path: Path, lab: LabSpec) -> None:
    touch(tmp_path / "a" / NOTEBOOK)
    touch(tmp_path / "a" / MODULE)
    touch(tmp_path / "a" / "scratch.ipynb")
    assert choose_file(tmp_path / "a", lab).name == NOTEBOOK
    touch(tmp_path / "b" / MODULE)
    touch(tmp_path / "b" / "other.ipynb")
    assert choose_file(tmp_path / "b", lab).name == MODULE
    touch(tmp_path / "c" / "mine.ipynb")
    touch(tmp_path / "c" / "helpers.py")
    touch(tmp_path / "c" / ".ipynb_checkpoints" / "mine-checkpoint.ipynb")
    touch(tmp_path / "c" / "__MACOSX" / "._mine.ipynb")
    assert choose_file(tmp_path / "c", lab).name == "mine.ipynb"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "no notebook (.ipynb) or module (.py) in case"),
        (["notes.txt"], "no notebook (.ipynb) or module (.py) in case"),
        (["one.ipynb", "two.ipynb"], "several notebooks and none named lab2_activations.ipynb"),
        ([NOTEBOOK, f"copy/{NOTEBOOK}"], "several files named lab2_activations.ipynb"),
    ],
)
def test_ambiguous_or_empty_submissions(
    tmp_path: Path, lab: LabSpec, files: list[str], message: str
) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    for name in files:
        touch(folder / name)
    with pytest.raises(SubmissionError, match=re.escape(message)):
        choose_file(folder, lab)


def test_content_hash_follows_the_files_that_can_be_graded(tmp_path: Path, lab: LabSpec) -> None:
    notebook = touch(tmp_path / "alice" / NOTEBOOK, "a")
    (found,) = find_submissions(tmp_path, lab)
    before = found.content_hash()
    touch(tmp_path / "alice" / "timestamp.txt", "later")
    assert found.content_hash() == before
    notebook.write_text("b", encoding="utf-8")
    assert found.content_hash() != before


def test_missing_or_empty_folders_are_usage_errors(tmp_path: Path, lab: LabSpec) -> None:
    with pytest.raises(UsageError, match="no such folder of submissions"):
        find_submissions(tmp_path / "nope", lab)
    touch(tmp_path / "readme.txt")
    with pytest.raises(SubmissionError, match="no submissions found"):
        find_submissions(tmp_path, lab)
    (tmp_path / "submitted" / "alice" / "lab1_linear").mkdir(parents=True)
    with pytest.raises(SubmissionError, match="lab2_activations/ folders"):
        find_submissions(tmp_path, lab)


# -- archives ---------------------------------------------------------------------------------
def extract(tmp_path: Path, archive: Path, **limits: int) -> Path:
    folder = tmp_path / f"{archive.stem}-extracted"
    folder.mkdir()
    extract_archive(archive, folder, **limits)
    return folder


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/evil.py", "..\\evil.py"])
def test_archive_paths_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "s.zip", {NOTEBOOK: "{}", name: "boom"})
    with pytest.raises(SubmissionError, match="unsafe path"):
        extract(tmp_path, archive)
    assert not (tmp_path / "evil.py").exists()


def test_archive_links_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("lab2_activations.ipynb")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(link, "/etc/passwd")
    with pytest.raises(SubmissionError, match="symbolic link"):
        extract(tmp_path, archive)


def test_archive_bombs_are_refused(tmp_path: Path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {NOTEBOOK: "0" * (3 << 20)})
    assert bomb.stat().st_size < 20_000
    with pytest.raises(SubmissionError, match="unpacks to more than 2 MiB"):
        extract(tmp_path, bomb, max_bytes=2 << 20)
    many = make_zip(tmp_path / "many.zip", {f"f{i}.txt": "" for i in range(11)})
    with pytest.raises(SubmissionError, match="holds 11 files; at most 10"):
        extract(tmp_path, many, max_files=10)


def test_broken_archives_are_submission_errors(tmp_path: Path, lab: LabSpec) -> None:
    touch(tmp_path / "frank.zip", "not a zip")
    (found,) = find_submissions(tmp_path, lab)
    assert found.kind is SourceKind.ARCHIVE
    with pytest.raises(SubmissionError, match=r"frank\.zip is not a readable zip archive"):
        graded_file(found, lab)
