"""Labs and exercises declared as data: the models and the loader of ``autograder/<lab>/``.

A lab folder holds ``lab.toml`` (the exercises and their public checks), optionally
``hidden.toml`` (more checks, left out of student releases) and optionally ``references.py``
(grader-side reference functions that checks name as ``lab:<name>``). A student release holds
``recorded.pt`` instead, the references' recorded results (see ``recording``), and only the
judges in ``references.py``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import importlib.util
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from loguru import logger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    model_validator,
)

from deepgrade.errors import SpecError, UsageError
from deepgrade.settings import CHECKOUT_DIR

LAB_FILE = "lab.toml"
HIDDEN_FILE = "hidden.toml"
REFERENCES_FILE = "references.py"
RECORDED_FILE = "recorded.pt"


class CheckDeclaration(BaseModel):
    """What every check declares in a lab file. Each check kind is a subclass, registered with
    :func:`register_check`, that adds its own fields and knows how to run (in the engine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str
    weight: float = Field(1.0, gt=0)
    hint: str | None = Field(None, description="Shown when this check fails.")
    hidden: bool = Field(False, description="Set by the loader for checks from hidden files.")


# The extension point of check kinds, declared here once. The built-in kinds register themselves
# when their package is imported, as pytest loads its built-in plugins: by name, on first use, so
# that the lab model does not depend on the engine that runs the checks.
BUILTIN_KINDS = "deepgrade.engine.checks"
_KINDS: dict[str, type[CheckDeclaration]] = {}
K = TypeVar("K", bound=type[CheckDeclaration])


def register_check(cls: K) -> K:
    """Class decorator: make a check kind loadable from lab files by its ``kind``."""
    declared: type[CheckDeclaration] = cls
    kind = declared.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{cls.__name__} must give 'kind' a default")
    _KINDS[kind] = cls
    return cls


def check_kinds() -> Mapping[str, type[CheckDeclaration]]:
    """Every registered check kind, the built-in ones included."""
    importlib.import_module(BUILTIN_KINDS)
    return dict(_KINDS)


class PlotSpec(BaseModel):
    """How to draw an exercise's function of one tensor against its reference: when a public
    check fails, the feedback page shows both (and their derivatives) over ``range`` and marks
    where they differ."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call: str = Field(description="The student's function, called on a 1-d tensor of inputs.")
    reference: str = Field(description="Dotted name of the reference, or lab:<name>.")
    range: tuple[float, float] = Field(description="The first and last input.")
    points: int = Field(201, ge=11, le=1001, description="How many inputs, evenly spaced.")
    kwargs: dict[str, float | int | bool] = Field(
        default_factory=dict, description="Keyword arguments of both calls (a slope, an alpha)."
    )
    gradient: bool = Field(True, description="Also draw the derivatives (autograd's).")

    @model_validator(mode="after")
    def _increasing(self) -> PlotSpec:
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"range must be two finite, increasing numbers, not {self.range}")
        return self


class ExerciseSpec(BaseModel):
    """One graded exercise: its points, the names it needs, what it forbids, its checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    points: float = Field(gt=0)
    title: str = ""
    requires: list[str] = Field(description="Names the submission must define.")
    forbidden: list[str] = Field(
        default_factory=list,
        description="Functions that may not be called inside the required definitions.",
    )
    forbidden_reason: str | None = Field(
        None,
        description="Why those calls are refused, shown to the student; by default, that the "
        "exercise asks them to write that function themselves.",
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields given to each of its checks whose kind has them and leaves them unset "
        "(call, dtypes, tolerances, mistakes...).",
    )
    checks: list[SerializeAsAny[CheckDeclaration]] = Field(default_factory=list)
    timeout: float | None = Field(
        None, gt=0, description="Seconds for all its checks; the settings' default when unset."
    )
    plot: PlotSpec | None = Field(
        None, description="Draw the function against its reference when a public check fails."
    )

    @model_validator(mode="before")
    @classmethod
    def _parse_checks(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
            return data
        defaults = data.get("defaults") or {}
        checks = [_parse_check(_with_defaults(item, defaults)) for item in data["checks"]]
        return data | {"checks": checks}

    @property
    def name(self) -> str:
        return _exercise_name(self.id)


def _with_defaults(item: Any, defaults: Mapping[str, Any]) -> Any:
    """A check's table completed by its exercise's defaults, for the fields its kind has."""
    kind = check_kinds().get(str(item.get("kind"))) if isinstance(item, dict) else None
    if kind is None or not isinstance(defaults, Mapping):
        return item
    fields = kind.model_fields
    return {k: v for k, v in defaults.items() if k in fields and k not in item} | item


def _parse_check(item: Any) -> Any:
    if isinstance(item, CheckDeclaration) or not isinstance(item, dict):
        return item
    kinds = check_kinds()
    kind = str(item.get("kind"))
    if kind not in kinds:
        raise ValueError(f"unknown check kind {kind!r}; known kinds: {', '.join(sorted(kinds))}")
    return kinds[kind].model_validate(item)


class ManualPart(BaseModel):
    """A part that teaching assistants grade by hand in nbgrader; never autograded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str = ""
    points: float = Field(gt=0)


class LabSpec(BaseModel):
    """A lab: its id, the student files it accepts and its exercises in grading order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    notebook: str
    module: str
    exercises: list[ExerciseSpec]
    mistakes: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="Named sets of known mistakes: a check (or exercise defaults) may give "
        '`mistakes = "<name>"` instead of the list.',
    )
    manual: list[ManualPart] = Field(default_factory=list)
    worker_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="PyTorch threads of the student's worker: one, unless the lab trains "
        "models large enough to gain from more.",
    )
    folder: Path = Field(Path(), exclude=True)
    version: str = Field("", description="Digest of the lab's files: changes when checks change.")
    has_hidden: bool = False
    references_file: Path | None = Field(
        None,
        exclude=True,
        description="The references.py whose code checks may run: the lab folder's own, or "
        "for a student release the course's (see find_lab).",
    )
    release: bool = Field(
        False, exclude=True, description="A student release, loaded as data (see find_lab)."
    )

    @model_validator(mode="before")
    @classmethod
    def _named_mistakes(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("exercises"), list):
            return data
        sets = data.get("mistakes") or {}
        for exercise in data["exercises"]:
            if not isinstance(exercise, dict):
                continue
            tables = [exercise.get("defaults"), *(exercise.get("checks") or [])]
            for table in tables:
                if isinstance(table, dict) and isinstance(table.get("mistakes"), str):
                    name = table["mistakes"]
                    if name not in sets:
                        known = ", ".join(sorted(sets)) or "none"
                        raise ValueError(f"no mistake set named {name!r} (known: {known})")
                    table["mistakes"] = sets[name]
        return data

    def exercise(self, exercise_id: str) -> ExerciseSpec:
        """The exercise named by its id (``lab2.sigmoid``) or its name (``sigmoid``)."""
        found = _exercise_id(self.id, [e.id for e in self.exercises], exercise_id)
        return next(exercise for exercise in self.exercises if exercise.id == found)

    @property
    def max_score(self) -> float:
        return sum(exercise.points for exercise in self.exercises)

    def references(self) -> ModuleType | None:
        """The lab's trusted ``references.py`` as a module, or ``None`` if it has none."""
        path = self.references_file
        if path is None or not path.is_file():
            return None
        spec = importlib.util.spec_from_file_location(f"_deepgrade_refs_{self.id}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def lab_order(lab_id: str) -> tuple[int, str]:
    """Sort key of lab ids as people count them: lab2 before lab10."""
    number = lab_id.removeprefix("lab")
    return (int(number), "") if number.isdigit() else (10**9, lab_id)


def _exercise_name(exercise_id: str) -> str:
    return exercise_id.split(".", 1)[-1]


def _exercise_id(lab_id: str, ids: Sequence[str], wanted: str) -> str:
    for exercise_id in ids:
        if wanted in (exercise_id, _exercise_name(exercise_id)):
            return exercise_id
    raise UsageError(f"lab {lab_id} has no exercise {wanted!r} (it has {', '.join(ids)})")


def _read_toml(path: Path) -> dict[str, Any]:
    """The data of a TOML file, shared with every reader of the same text: not to be changed
    (:func:`load_lab` changes a copy)."""
    try:
        return _parsed_toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from None


@functools.lru_cache(maxsize=32)
def _parsed_toml(text: str) -> dict[str, Any]:
    # Keyed by the text itself, so that an edited file is parsed again. A notebook's kernel
    # reads the same lab files at every check cell (to find the lab, its exercise, its checks),
    # and parsing a lab's TOML takes ten times as long as copying the result.
    return tomllib.loads(text)


def lab_digest(folder: Path) -> str:
    """The version of the lab in ``folder``: a digest of its files (:attr:`LabSpec.version`)."""
    digest = hashlib.sha256()
    for name in (LAB_FILE, HIDDEN_FILE, REFERENCES_FILE, RECORDED_FILE):
        if (folder / name).is_file():
            digest.update(name.encode() + (folder / name).read_bytes())
    return digest.hexdigest()[:16]


def load_lab(folder: Path, *, include_hidden: bool = True) -> LabSpec:
    """Load the lab declared in ``folder`` (a folder holding ``lab.toml``)."""
    # Copies: hidden checks are merged into the lab's tables.
    data = copy.deepcopy(_read_toml(folder / LAB_FILE))
    hidden_path = folder / HIDDEN_FILE
    has_hidden = include_hidden and hidden_path.is_file()
    if has_hidden:
        _merge_hidden(data, copy.deepcopy(_read_toml(hidden_path)), hidden_path)
    try:
        return LabSpec.model_validate(
            data
            | {
                "folder": folder,
                "version": lab_digest(folder),
                "has_hidden": has_hidden,
                "references_file": folder / REFERENCES_FILE,
            }
        )
    except ValidationError as exc:
        raise SpecError(f"invalid lab definition in {folder}:\n{exc}") from None


def _merge_hidden(data: dict[str, Any], hidden: dict[str, Any], path: Path) -> None:
    """Add ``hidden.toml`` to ``lab.toml``'s data: the same syntax, its exercises adding checks
    (with their own defaults) to the lab's exercises of the same id, and its mistake sets."""
    extra = set(hidden) - {"exercises", "mistakes"}
    if extra:
        raise SpecError(f"{path}: only exercises and mistakes are hidden, not {sorted(extra)}")
    sets = data.setdefault("mistakes", {})
    for name, mistakes in (hidden.get("mistakes") or {}).items():
        if name in sets:
            raise SpecError(f"{path}: the mistake set {name!r} is already in {LAB_FILE}")
        sets[name] = mistakes
    by_id = {exercise.get("id"): exercise for exercise in data.get("exercises", [])}
    for exercise in hidden.get("exercises", []):
        target = by_id.get(exercise.get("id"))
        if target is None:
            raise SpecError(f"{path}: {exercise.get('id')!r} is not an exercise of {LAB_FILE}")
        extra = set(exercise) - {"id", "defaults", "checks"}
        if extra:
            raise SpecError(f"{path}: {exercise['id']} may add checks, not {sorted(extra)}")
        defaults = exercise.get("defaults") or {}
        for check in exercise.get("checks", []):
            table = _with_defaults(check, defaults) if isinstance(check, dict) else check
            target.setdefault("checks", []).append(table | {"hidden": True})


# The course checkout this package was installed from (an editable install), if any.
BUNDLED_AUTOGRADER = CHECKOUT_DIR / "autograder"


def course_roots(configured: Path | None = None, beside: Path | None = None) -> list[Path]:
    """The course's folders of checks, nearest first: the only ones whose Python may run.

    The configured folder, then an ``autograder/`` folder in ``beside`` (a staff file's folder,
    such as a course configuration's) or one of its parents, then the bundled checkout's.
    Never a folder found from a submission: see :func:`release_roots`.
    """
    candidates = [configured] if configured is not None else []
    if beside is not None:
        candidates += [folder / "autograder" for folder in [beside, *beside.resolve().parents]]
    return _existing([*candidates, BUNDLED_AUTOGRADER])


def release_roots(near: Path) -> list[Path]:
    """``autograder/`` folders of student releases in ``near`` or one of its parents.

    Whatever lies there may come from the student, so :func:`find_lab` loads labs found there
    as data only (see :func:`load_release`): public checks, and recorded references if any.
    """
    start = near.resolve()
    return _existing([folder / "autograder" for folder in [start, *start.parents]])


def _existing(candidates: Iterable[Path]) -> list[Path]:
    # Each folder once: a configured folder is often the checkout's own.
    seen: set[Path] = set()
    roots = []
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in seen:
            seen.add(folder.resolve())
            roots.append(folder)
    return roots


@dataclass(frozen=True)
class LabLocation:
    """Where a lab's files are, found without loading its checks (which imports PyTorch).

    Enough to tell a wrong lab or exercise at once; :meth:`load` reads the whole lab.
    """

    id: str
    folder: Path
    course_folder: Path | None = None
    release: bool = False

    def exercise_id(self, wanted: str) -> str:
        """The id of the exercise ``wanted`` (an id or a name), as :meth:`LabSpec.exercise`."""
        # hidden.toml may only add checks to lab.toml's exercises: lab.toml names them all.
        exercises = _read_toml(self.folder / LAB_FILE).get("exercises")
        ids = [e.get("id") for e in exercises if isinstance(e, dict)] if exercises else []
        return _exercise_id(self.id, [i for i in ids if isinstance(i, str)], wanted)

    def load(self, *, include_hidden: bool = True) -> LabSpec:
        """The lab itself: a student release's as data only (:func:`load_release`)."""
        if self.release:
            return load_release(self.folder, self.course_folder)
        return load_lab(self.folder, include_hidden=include_hidden)


def find_lab(
    wanted: str | None,
    *,
    course: Sequence[Path],
    releases: Sequence[Path] = (),
    file_stem: str | None = None,
    include_hidden: bool = True,
) -> LabSpec:
    """The lab ``wanted``, loaded: see :func:`locate_lab`."""
    location = locate_lab(wanted, course=course, releases=releases, file_stem=file_stem)
    return location.load(include_hidden=include_hidden)


def locate_lab(
    wanted: str | None,
    *,
    course: Sequence[Path],
    releases: Sequence[Path] = (),
    carried: Sequence[Path] = (),
    file_stem: str | None = None,
) -> LabLocation:
    """The lab ``wanted`` (an id or folder name), or the one a file named ``file_stem`` is of.

    Labs in ``releases`` (found next to a student's own file) come first, as data only; then
    the ``course`` roots' labs, with their references. Labs in ``carried`` (the checks a
    student's notebook carries) count only where the course has no lab of their id: every
    released notebook carries them, so where the course is, it grades as it always did. See
    docs/security.md, "Trust boundary: classes".
    """
    courses = find_lab_folders(course)
    # A submission inside the course's checkout finds the course's own folder above it.
    theirs = [root for root in releases if root.resolve() not in {c.resolve() for c in course}]
    released = {
        lab_id: folder
        for lab_id, folder in find_lab_folders(theirs).items()
        if _genuine_release(folder, courses.get(lab_id))
    }
    released |= {i: f for i, f in find_lab_folders(carried).items() if i not in courses}
    folders = courses | released
    known = ", ".join(sorted(folders, key=lab_order)) or "none found"
    if wanted is None and file_stem is not None:
        # A file named after the lab's folder (lab2_activations.ipynb) or id (lab2.py).
        wanted = next((i for i, f in folders.items() if file_stem in (i, f.name)), None)
    if wanted is None:
        raise UsageError(f"cannot tell which lab this is: pass --lab (one of {known})")
    lab_id = (
        wanted
        if wanted in folders
        else next((i for i, f in folders.items() if f.name == wanted), None)
    )
    if lab_id is None:
        raise UsageError(f"unknown lab {wanted!r} (known labs: {known})")
    if lab_id in released:
        return LabLocation(lab_id, released[lab_id], courses.get(lab_id), release=True)
    return LabLocation(lab_id, courses[lab_id])


def _genuine_release(folder: Path, course_folder: Path | None) -> bool:
    """Whether ``folder`` may be a student release of the course's lab in ``course_folder``.

    Where this machine has the course's lab, a release's ``lab.toml`` is a copy of the
    course's, so checks that differ are not the course's and are ignored.
    """
    if course_folder is None:
        return True
    same = (folder / LAB_FILE).read_bytes() == (course_folder / LAB_FILE).read_bytes()
    if not same:
        logger.warning("ignoring the checks in {}: they are not the course's", folder)
    return same


def load_release(folder: Path, course_folder: Path | None) -> LabSpec:
    """A student release's lab as data: its ``lab.toml`` and recordings, never its Python.

    A ``hidden.toml`` there is ignored and its ``references.py`` never imported: the student
    may have put them there. The judges its checks name come from the course's own lab
    (``course_folder``) when this machine has it; otherwise the release's own judges run in a
    worker (see :mod:`deepgrade.engine.released_judges`).
    """
    lab = load_lab(folder, include_hidden=False)
    trusted = course_folder / REFERENCES_FILE if course_folder is not None else None
    return lab.model_copy(update={"references_file": trusted, "release": True})


def find_lab_folders(roots: Iterable[Path]) -> dict[str, Path]:
    """Map lab ids to their folders; the first root that declares an id wins."""
    found: dict[str, Path] = {}
    for root in roots:
        for lab_file in sorted(root.glob(f"*/{LAB_FILE}")):
            lab_id = _read_toml(lab_file).get("id")
            if isinstance(lab_id, str):
                found.setdefault(lab_id, lab_file.parent)
    return found
