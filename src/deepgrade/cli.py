"""The ``grade`` command: a thin shell over the Python API, with the same defaults."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click

from deepgrade.errors import DeepgradeError, MissingExtraError, UsageError


class _Group(click.Group):
    """Turns deepgrade's errors into ``Error: ...`` and an exit code, without a traceback.

    Every command but ``check`` imports ``deepgrade.staff``, which raises
    :class:`MissingExtraError` in the student package: that is said with the command's name.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeepgradeError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = str(exc)
            if isinstance(exc, MissingExtraError):
                command = f"{ctx.command_path} {ctx.invoked_subcommand}"
                message = f"{command} needs the {exc.extra} extra: {exc.install}"
            click.echo(f"Error: {message}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="deepgrade")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """deepgrade: grade deep-learning exercises with precise feedback."""
    from loguru import logger

    ctx.obj = {"debug": debug}
    logger.enable("deepgrade")
    logger.remove()
    # Tracebacks list local variables only with --debug: they can hold hidden inputs.
    logger.add(sys.stderr, level="DEBUG" if debug else "WARNING", backtrace=debug, diagnose=debug)


def _device_syntax(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # Only the spelling, at once: whether such a GPU is present is known where the device is
    # resolved (deepgrade.engine.devices), after PyTorch is imported.
    if not re.fullmatch(r"cpu|auto|cuda(:[0-9]{1,3})?", value):
        raise UsageError(f"unknown device {value!r}; use cpu, cuda, cuda:N or auto")
    return value


_DEVICE = click.option(
    "--device",
    default="auto",
    show_default=True,
    metavar="cpu|cuda|cuda:N|auto",
    callback=_device_syntax,
    help="Where student code and references run; auto: CUDA when available.",
)


_EXERCISES = click.option(
    "--exercise", "exercises", multiple=True, help="Only these exercises (repeatable)."
)


def _jobs(graded: str) -> Callable[[Any], Any]:
    return click.option(
        "--jobs",
        type=click.IntRange(min=1),
        help=f"{graded} graded at once  [default: the number of cores]",
    )


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--lab", help="Lab id (lab2, ...); found from the notebook when omitted.")
@_EXERCISES
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@_DEVICE
@click.option("--verbose", is_flag=True, help="Explain passed exercises too.")
def check(
    path: Path | None,
    lab: str | None,
    exercises: tuple[str, ...],
    as_json: bool,
    device: str,
    verbose: bool,
) -> None:
    """Grade one notebook or module with the checks available here."""
    from deepgrade.engine.validation import validate_request
    from deepgrade.sandbox.templates import prestart
    from deepgrade.settings import GraderSettings

    settings = GraderSettings()
    # A wrong path, a broken file, lab or exercise is said at once, before any worker starts.
    request = validate_request(
        lab, exercises, settings=settings, submission=path or _default_submission()
    )
    # Before the lab is read: the template may be forked from this process.
    prestart(settings, device=device, clean=True)
    from deepgrade.engine.grading import grade_submission

    result = grade_submission(
        request.graded, lab=lab, exercises=exercises, device=device, settings=settings
    )
    if as_json:
        click.echo(json.dumps(result.public_dict()))
    else:
        from rich.console import Console

        from deepgrade.reports.terminal import render_result

        render_result(result, Console(), verbose=verbose)
    sys.exit(0 if result.all_passed else 1)


def _default_submission() -> Path:
    from deepgrade.errors import UsageError

    candidates = sorted(Path.cwd().glob("lab*.ipynb")) or sorted(Path.cwd().glob("lab*.py"))
    if len(candidates) != 1:
        raise UsageError("give the notebook or module to check: grade check PATH")
    return candidates[0]


@main.command()
@click.argument("labs", nargs=-1)
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=Path())
@click.option("--check", "check_only", is_flag=True, help="Fail if generated files are stale.")
def build(labs: tuple[str, ...], root: Path, check_only: bool) -> None:
    """Generate notebooks and student stubs from solutions/ (course authors)."""
    from deepgrade.staff.authoring import build_course

    stale = build_course(root, labs or None, write=not check_only)
    for path in stale:
        click.echo(f"{'stale' if check_only else 'wrote'}: {path}")
    if check_only and stale:
        sys.exit(1)


@main.command("update-checks")
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option(
    "--from",
    "release",
    type=click.Path(path_type=Path),
    required=True,
    help="The lab's newly released notebook, whose checks cell replaces the notebook's.",
)
def update_checks(notebook: Path, release: Path) -> None:
    """Give NOTEBOOK the checks of a newer release of its lab, keeping everything else."""
    from deepgrade.notebook.update import update_checks as update

    done = update(notebook, release)
    if done.before == done.after:
        click.echo(f"{notebook}: the checks of {done.lab} were already version {done.after}")
    else:
        click.echo(
            f"{notebook}: the checks of {done.lab} are now version {done.after} "
            f"(released {done.released}; were {done.before or 'none'})"
        )


@main.command("new-lab")
@click.argument("lab_id", metavar="LAB")
@click.option("--title", required=True, help='The lab\'s title, as "Convolutional networks".')
@click.option("--folder", help="Folder name, as lab8_convolution  [default: LAB_<title slug>]")
@click.option(
    "--course",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path(),
    help="The course folder (solutions/, autograder/, exercises/, tests/).  [default: .]",
)
def new_lab(lab_id: str, title: str, folder: str | None, course: Path) -> None:
    """Scaffold lab LAB (lab8) with an example exercise, then build it (course authors)."""
    from deepgrade.staff import scaffold

    lab = scaffold.new_lab(lab_id, title, course=course, folder=folder)
    for path in [*lab.written, *lab.built]:
        click.echo(f"wrote: {path}")
    pyproject = course / "pyproject.toml"
    if lab.marker is scaffold.Marker.BY_HAND:
        click.echo(f"add the pytest marker {lab.marker_text!r} to {pyproject} by hand")
    else:
        click.echo(f"pytest marker {lab.lab_id}: {lab.marker.value} in {pyproject}")
    click.echo(f"{lab.folder} is ready: docs/authoring.md goes on from here")


@main.command()
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--lab", required=True, help="Lab id (lab2) or folder name (lab2_activations).")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Output folder."
)
@_jobs("Submissions")
@click.option("--force", is_flag=True, help="Regrade submissions whose results are up to date.")
@click.option(
    "--gradebook",
    type=click.Path(path_type=Path, file_okay=False),
    help="nbgrader course folder whose gradebook receives the scores.",
)
@click.option(
    "--course",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Course configuration (TOML): teams, the lab's deadline and late policy.",
)
@_DEVICE
@_EXERCISES
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Grade in local processes, or on the workers of a Dask cluster.",
)
@click.option("--scheduler", help="The Dask scheduler's address (tcp://HOST:8786), with dask.")
@click.option(
    "--allow-limits-only",
    is_flag=True,
    help="Grade even where workers run with resource limits only (no bubblewrap): one "
    "student's code can then read, signal or overwrite another's work.",
)
def batch(
    submissions: Path,
    lab: str,
    out: Path,
    jobs: int | None,
    force: bool,
    gradebook: Path | None,
    course: Path | None,
    device: str,
    exercises: tuple[str, ...],
    executor: Literal["local", "dask"],
    scheduler: str | None,
    allow_limits_only: bool,
) -> None:
    """Grade a class's submissions: nbgrader's submitted/, student folders or zip archives."""
    import deepgrade.staff  # noqa: F401  (a student install says what to install, first)
    from deepgrade.engine.validation import validate_request
    from deepgrade.settings import GraderSettings

    settings = GraderSettings()
    if allow_limits_only:
        settings = settings.model_copy(update={"allow_limits_only": True})
    # Said at once: run_batch validates the same, but only after importing PyTorch.
    validate_request(lab, exercises, settings=settings, submissions=submissions)
    if executor == "local":
        from deepgrade.staff.forkserver import start_fork_server

        # The graders' server imports PyTorch while this process imports its own modules.
        start_fork_server(settings)
    from deepgrade.staff.batch import BatchOptions, RichProgress, run_batch

    options = BatchOptions(
        jobs=jobs,
        force=force,
        gradebook=gradebook,
        course=course,
        device=device,
        exercises=exercises,
        settings=settings,
        executor=executor,
        scheduler=scheduler,
    )
    with RichProgress() as progress:
        result = run_batch(submissions, lab=lab, out=out, options=options, progress=progress)
    mean = f"{result.mean_score:.2f}" if result.mean_score is not None else "-"
    click.echo(
        f"{len(result.graded) - len(result.failed)} graded, {len(result.skipped)} up to date, "
        f"{len(result.failed)} failed; mean score {mean} / {result.max_score:g}; "
        f"results in {result.out}"
    )
    if result.gradebook is not None:
        skipped = len(result.gradebook.skipped)
        click.echo(
            f"gradebook {result.gradebook.course_dir}: {len(result.gradebook.written)} written"
            + (f", {skipped} not graded" if skipped else "")
        )
    if result.isolation is not None:
        click.echo(f"isolation: {result.isolation.value}")
    for note in result.notes:
        click.echo(note)
    sys.exit(0 if result.complete else 1)


@main.command()
@click.argument("lab")
@_EXERCISES
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write audit.json and audit.html (each survivor's diff) into DIR.",
)
@_jobs("Mutants")
@click.option(
    "--max-mutants",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="At most this many mutants per exercise (a seeded sample).",
)
@click.option("--all-mutants", is_flag=True, help="Every mutant, however many.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample.")
@click.option("--operator", "operators", multiple=True, help="Only these operators (repeatable).")
@click.option(
    "--solution",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The reference solution  [default: solutions/<folder>/<folder>.py]",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    help="Exit 1 when an exercise kills fewer than this percentage of its mutants.",
)
def audit(
    lab: str,
    exercises: tuple[str, ...],
    as_json: bool,
    out: Path | None,
    jobs: int | None,
    max_mutants: int,
    all_mutants: bool,
    seed: int,
    operators: tuple[str, ...],
    solution: Path | None,
    fail_under: float | None,
) -> None:
    """Mutation-test LAB's checks: mutate its solution and count the mutants they catch."""
    import deepgrade.staff  # noqa: F401  (a student install says what to install, first)
    from deepgrade.engine.validation import validate_request
    from deepgrade.settings import GraderSettings

    # Said at once: run_audit validates the same, but only after importing PyTorch.
    validate_request(lab, exercises, settings=GraderSettings())
    from rich.console import Console

    from deepgrade.staff.audit import run_audit
    from deepgrade.staff.audit.report import render_audit, write_reports
    from deepgrade.staff.batch import RichProgress

    with RichProgress() as progress:
        report = run_audit(
            lab,
            exercises=exercises,
            jobs=jobs,
            max_mutants=None if all_mutants else max_mutants,
            seed=seed,
            operators=list(operators) or None,
            solution=solution,
            progress=progress,
        )
    if as_json:
        click.echo(report.model_dump_json())
    else:
        render_audit(report, Console(), goal=fail_under or 95.0)
    if out is not None:
        written = write_reports(report, out)
        click.echo(f"wrote {', '.join(str(p) for p in written)}", err=as_json)
    sys.exit(1 if fail_under is not None and report.below(fail_under) else 0)


@main.command()
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--lab", required=True, help="Lab id (lab2) or folder name (lab2_activations).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for similarity.html (staff only) and similarity.json.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Flag an exercise when a pair shares this share of the smaller side's own code.",
)
@click.option(
    "--min-matches",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="...and at least this many fingerprints (about 2.5 tokens each).",
)
@click.option(
    "--common",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Code shared by more than this share of the class (and by more than 4) never counts.",
)
@click.option(
    "--max-pairs",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most this many pairs, the most alike.",
)
@click.option(
    "--exclude",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="Code that never counts, instead of the course's solution and released stub "
    "(repeatable: the released notebook, last year's solution...).",
)
def similarity(
    submissions: Path,
    lab: str,
    out: Path,
    threshold: float,
    min_matches: int,
    common: float,
    max_pairs: int,
    exclude: tuple[Path, ...],
) -> None:
    """Flag pairs of submissions that are suspiciously alike, per exercise (staff only)."""
    import deepgrade.staff  # noqa: F401  (a student install says what to install, first)
    from deepgrade.staff.similarity import SimilarityOptions, find_similar
    from deepgrade.staff.similarity.report import write_reports

    options = SimilarityOptions(
        threshold=threshold, min_matches=min_matches, common=common, max_pairs=max_pairs
    )
    report = find_similar(submissions, lab, exclude=list(exclude) or None, options=options)
    shown = (
        f" (the {len(report.pairs)} most alike shown)"
        if report.flagged_pairs > len(report.pairs)
        else ""
    )
    click.echo(
        f"{len(report.compared)} submissions compared, {len(report.skipped)} unreadable; "
        f"flagged pairs: {report.flagged_pairs}{shown}"
    )
    for pair in report.pairs[:10]:
        exercises = ", ".join(match.exercise for match in pair.flagged)
        click.echo(f"  {pair.a} {pair.b}: {pair.share:.0%} shared ({exercises})")
    written = write_reports(report, out)
    click.echo(f"wrote {', '.join(str(p) for p in written)}")


@main.command()
@click.option(
    "--course",
    "course_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The course configuration (TOML).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for course.csv, moodle.csv and canvas.csv.",
)
def grades(course_file: Path, out: Path) -> None:
    """Combine labs, team report and exam into G1, G2 and course grades, with LMS files."""
    from deepgrade.staff.course import load_course
    from deepgrade.staff.grades import compute_grades, write_exports

    config = load_course(course_file)
    table = compute_grades(config)
    written = write_exports(table, out, lms_columns=config.lms.columns)
    means = ", ".join(
        f"{column} {table.format(table.mean(column))}" for column in ("G1", "G2", "course")
    )
    click.echo(f"{len(table.students)} students; means {means} (out of {table.scale:g})")
    for row in table.students:
        if row.notes:
            click.echo(f"  {row.student.id}: {'; '.join(row.notes)}")
    click.echo(f"wrote {', '.join(path.name for path in written)} in {out}")


@main.group()
def export() -> None:
    """Autograders for Gradescope and PrairieLearn (docs/exports.md)."""


_OUT = click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Output folder."
)


@export.command("gradescope")
@click.argument("lab")
@_OUT
@click.option(
    "--hidden-visibility",
    type=click.Choice(["after_published", "hidden"]),
    default="after_published",
    show_default=True,
    help="When students see the hidden checks' lines: once grades are published, or never.",
)
def export_gradescope(
    lab: str, out: Path, hidden_visibility: Literal["after_published", "hidden"]
) -> None:
    """Write OUT/<lab>-autograder.zip, Gradescope's autograder for LAB."""
    from deepgrade.staff.exports import export_gradescope as export_zip

    click.echo(f"wrote: {export_zip(lab, out, hidden_visibility=hidden_visibility)}")


@export.command("prairielearn")
@click.argument("lab")
@_OUT
@click.option(
    "--image",
    default="deepgrade-grader",
    show_default=True,
    help="The grader image on Docker Hub, built from OUT/deepgrade-image/Dockerfile.",
)
@click.option(
    "--timeout",
    type=click.IntRange(1, 600),
    default=600,
    show_default=True,
    help="Seconds PrairieLearn gives one grading job.",
)
@click.option("--force", is_flag=True, help="Replace an earlier export of the question.")
def export_prairielearn(lab: str, out: Path, image: str, timeout: int, force: bool) -> None:
    """Write the PrairieLearn question OUT/<lab folder>/ and its image's Dockerfile."""
    from deepgrade.staff.exports import export_prairielearn as export_question

    question = export_question(lab, out, image=image, timeout=timeout, overwrite=force)
    click.echo(f"wrote: {question}")
    click.echo(f"wrote: {out / 'deepgrade-image' / 'Dockerfile'}")


@main.command()
@click.argument("lab")
@click.option(
    "--to",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the release to DIR/<lab folder>/ (built in a temporary nbgrader course).",
)
@click.option(
    "--course",
    "course_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="An nbgrader course folder: fills source/ and release/ and its gradebook.",
)
@click.option("--force", is_flag=True, help="With --to: replace an earlier release there.")
def release(lab: str, to: Path | None, course_dir: Path | None, force: bool) -> None:
    """Release LAB (lab2 or lab2_activations) to students through nbgrader."""
    from deepgrade.staff.release import release_lab

    report = release_lab(lab, to=to, course_dir=course_dir, overwrite=force)
    click.echo(f"released {report.lab}: {report.notebook}")
    for path in report.files:
        if path != report.notebook:
            click.echo(f"  with {path}")
