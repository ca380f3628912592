"""The optional parts of the installation: ``pip install deepgrade`` is the student package
(``grade check``, a notebook's ``check()`` and ``score()``); ``deepgrade[staff]`` adds what course
staff run (authoring, release, batch grading, the gradebook, course grades, HTML reports, Dask).

Code that needs the staff extra calls :func:`require_staff` before importing any of it, so that a
student installation says what to install instead of failing with a ``ModuleNotFoundError``.
"""

from __future__ import annotations

from importlib.util import find_spec

from deepgrade.errors import MissingExtraError

STAFF_INSTALL = 'pip install "deepgrade[staff]"'
# The top-level modules of the staff extra's distributions (pyproject.toml, `staff`).
STAFF_MODULES = ("nbformat", "jupytext", "nbgrader", "matplotlib", "jinja2", "dask", "distributed")


def missing_staff_modules() -> list[str]:
    """The staff extra's modules that this installation cannot import."""
    missing = []
    for name in STAFF_MODULES:
        try:
            found = find_spec(name) is not None
        except ImportError:
            # A finder may refuse a module outright instead of not finding it.
            found = False
        if not found:
            missing.append(name)
    return missing


def require_staff(what: str) -> None:
    """Raise :class:`MissingExtraError` unless the staff extra is installed."""
    missing = missing_staff_modules()
    if missing:
        raise MissingExtraError(
            f"{what} needs the staff extra: {STAFF_INSTALL} (missing: {', '.join(missing)})",
            extra="staff",
            install=STAFF_INSTALL,
        )
