"""HTML feedback pages and the class summary: content, escaping, secrecy, and a real browser."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.image import imread

from deepgrade.errors import UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord
from deepgrade.model.results import (
    CheckResult,
    ExerciseResult,
    LabResult,
    Status,
    Sweep,
    TaskScore,
    score_exercise,
)
from deepgrade.model.results import zero_result as zero
from deepgrade.model.spec import LabSpec, load_lab
from deepgrade.reports.feedback import render_feedback, write_feedback
from deepgrade.reports.summary import (
    OPEN_ROWS,
    FailureGroup,
    class_statistics,
    normalise_message,
    render_summary,
    write_summary,
)
from tests.helpers import ROOT

ATTACK = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SECRET = "hidden input 0.3141592 SECRET"


@pytest.fixture(scope="module")
def lab2() -> LabSpec:
    return load_lab(ROOT / "autograder" / "lab2_activations")


@pytest.fixture(scope="module")
def lab7() -> LabSpec:
    return load_lab(ROOT / "autograder" / "lab7_report")


def check(name: str, status: Status = Status.PASSED, **fields: object) -> CheckResult:
    return CheckResult(name=name, status=status, weight=1.0, **fields)  # type: ignore[arg-type]


def record(
    student: str,
    exercises: list[ExerciseResult],
    lab: str = "lab2",
    status: RecordStatus = RecordStatus.GRADED,
    **fields: object,
) -> SubmissionRecord:
    return SubmissionRecord(
        student=student,
        lab=lab,
        source=f"/srv/course/submitted/{student}/lab.ipynb",
        content_hash="0" * 16,
        checks_version="test",
        status=status,
        result=LabResult(lab=lab, exercises=exercises) if exercises else None,
        max_score=20.0,
        **fields,  # type: ignore[arg-type]
    )


def sigmoid_with(*checks: CheckResult, output: str = "") -> ExerciseResult:
    return score_exercise("lab2.sigmoid", 2.0, list(checks), output)


def images(page: str) -> list[bytes]:
    """The PNG figures inlined in a page."""
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


# -- feedback -------------------------------------------------------------------------------------
def test_feedback_shows_scores_and_public_failures_in_full(lab2: LabSpec) -> None:
    message = "the output differs at 3 of 64 elements; worst at index [3]: expected 0.731, got 0.5"
    exercise = sigmoid_with(check("forward", Status.FAILED, message=message), check("property"))
    page = render_feedback(record("ada", [exercise]), lab2)
    assert "Feedback for ada" in page
    assert "1 / 2" in page and "Sigmoid" in page
    assert message in page
    assert 'class="badge failed"' in page
    # Where the grader keeps the file is not the student's business; its name is.
    assert "/srv/course" not in page and "lab.ipynb" in page


def test_everything_from_student_code_is_escaped(lab2: LabSpec) -> None:
    exercise = sigmoid_with(check(ATTACK, Status.ERROR, message=ATTACK), output=ATTACK)
    failing = record("eve", [exercise])
    failing.result.notes.append(f"cell 2 raised ValueError: {ATTACK}")  # type: ignore[union-attr]
    for page in (render_feedback(failing, lab2), render_summary([failing], lab2)):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<script" not in render_feedback(failing, lab2)


def test_student_ids_are_escaped_and_quoted_in_links(lab2: LabSpec) -> None:
    page = render_summary([record('a"b <c>', [sigmoid_with(check("forward"))])], lab2)
    assert '<a href="feedback/a%22b%20%3Cc%3E.html">a&#34;b &lt;c&gt;</a>' in page
    assert 'href="feedback' not in render_summary(
        [record("x", [sigmoid_with(check("forward"))])], lab2, feedback_dir=None
    )


def test_hidden_failures_show_their_name_and_status_never_their_message(lab2: LabSpec) -> None:
    exercise = sigmoid_with(
        check("forward", Status.FAILED, message="public: expected 1, got 2"),
        check("backward at extreme inputs", Status.FAILED, hidden=True, message=SECRET),
        check("forward on a large batch", Status.TIMEOUT, hidden=True, message=SECRET),
        check("complement property", hidden=True, message=SECRET),
        output=f"print from the student's code: {SECRET}",
    )
    assert SECRET in exercise.message  # the exercise's own summary quotes the hidden checks
    page = render_feedback(record("bob", [exercise]), lab2)
    assert "SECRET" not in page and "0.3141592" not in page
    assert "2 of 3 hidden checks did not pass" in page
    assert "backward at extreme inputs" in page and "forward on a large batch" in page
    assert 'class="badge timeout"' in page
    assert "public: expected 1, got 2" in page
    # What the code printed may echo hidden inputs: the page says so instead of showing it.
    assert "is not shown here" in page


def test_passing_hidden_checks_are_only_counted(lab2: LabSpec) -> None:
    exercise = sigmoid_with(check("forward"), check("a", hidden=True), check("b", hidden=True))
    page = render_feedback(record("cy", [exercise]), lab2)
    assert "All 2 hidden checks passed" in page
    assert ">a<" not in page


def test_output_of_public_checks_is_collapsed_and_shortened(lab2: LabSpec) -> None:
    output = "first line\n" + "x" * 20_000 + "\nlast line"
    page = render_feedback(record("di", [sigmoid_with(check("forward"), output=output)]), lab2)
    shown = re.search(
        r'<details class="output"><summary>.*?</summary>\s*<pre>(.*?)</pre>', page, re.S
    )
    assert shown is not None
    assert shown.group(1).startswith("first line") and shown.group(1).endswith("last line")
    assert "characters left out" in shown.group(1) and len(shown.group(1)) < 5000


def test_unwritten_and_missing_exercises_explain_themselves(lab2: LabSpec) -> None:
    stub = sigmoid_with(
        check("forward", Status.NOT_IMPLEMENTED, message="not implemented yet (sigmoid)"),
        check("backward", Status.NOT_IMPLEMENTED, hidden=True, message="not implemented yet"),
    )
    missing = zero("lab2.tanh", 2.0, Status.MISSING, "tanh is not defined in the submission")
    page = render_feedback(record("ed", [stub, missing]), lab2)
    assert "still raises NotImplementedError" in page
    assert "hidden check" not in page
    assert "tanh is not defined in the submission" in page


def test_curves_of_public_checks_are_inline_figures(lab7: LabSpec) -> None:
    series = {"loss": [1 / (k + 1) for k in range(40)], "accuracy": [k / 40 for k in range(40)]}
    training = score_exercise(
        "lab7.train_digits",
        7.0,
        [
            check("test accuracy after training", series=series),
            check("hidden twin", hidden=True, series={"loss": [5.0, 4.0]}),
        ],
    )
    page = render_feedback(record("fay", [training], lab="lab7"), lab7)
    figures = images(page)
    assert len(figures) == 1  # the hidden check's curve stays hidden
    assert all(f.startswith(b"\x89PNG\r\n\x1a\n") for f in figures)
    assert "loss: 40 values from 1 to 0.025" in page
    assert "Graded by hand" in page and "Generalisation" in page


def _slope_sweep() -> Sweep:
    """LeakyReLU with the slope 0.01 where 0.1 was asked, over [-2, 2]."""
    inputs = [-2 + k / 10 for k in range(41)]
    return Sweep(
        call="leaky_relu",
        inputs=inputs,
        expected=[x if x >= 0 else 0.1 * x for x in inputs],
        got=[x if x >= 0 else 0.01 * x for x in inputs],
        expected_gradient=[1.0 if x >= 0 else 0.1 for x in inputs],
        got_gradient=[1.0 if x >= 0 else float("inf") for x in inputs],
        rtol=1e-7,
        atol=1e-7,
    )


def test_a_class_s_pages_draw_the_same_mistake_once() -> None:
    from deepgrade.reports.figures import function_sweep

    first, again = function_sweep(_slope_sweep()), function_sweep(_slope_sweep())
    assert again is first
    other = _slope_sweep().model_copy(update={"call": "prelu"})
    assert function_sweep(other).alt.startswith("prelu(x)")


def _task() -> CheckResult:
    tiers = [(0.9, 1.0), (0.8, 0.5)]
    task = TaskScore(
        name="test accuracy", value=0.85, higher_is_better=True, tiers=tiers, credit=0.5
    )
    series = {"loss": [2.0 / (k + 1) for k in range(30)]}
    return check("test accuracy", Status.FAILED, message="accuracy 0.85", series=series, task=task)


def test_a_wrong_function_is_drawn_against_the_reference(lab2: LabSpec) -> None:
    wrong = zero("lab2.leaky_relu", 1.5, Status.FAILED, "slope").model_copy(
        update={"checks": [check("forward", Status.FAILED)], "sweep": _slope_sweep()}
    )
    page = render_feedback(record("amy", [wrong]), lab2)
    assert len(images(page)) == 1
    # The text says what the figure shows: where the values and the derivative are wrong.
    assert (
        "leaky_relu(x) for x from -2 to 2: leaky_relu(x) differs from the reference at 20 of 41"
        in page
    )
    assert "between x = -2 and x = -0.1; derivative differs from the reference at 20 of 41" in page


def test_a_task_is_drawn_against_its_tiers(lab7: LabSpec) -> None:
    training = score_exercise("lab7.train_digits", 7.0, [_task()])
    page = render_feedback(record("fay", [training], lab="lab7"), lab7)
    assert len(images(page)) == 2  # the loss curve and the tiers
    assert (
        "test accuracy 0.85; tiers &gt;= 0.9 earns 100%, &gt;= 0.8 earns 50%; reached 50%" in page
    )


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [
        (RecordStatus.SUBMISSION_ERROR, ["could not be read", "bad zip <file>"], []),
        (RecordStatus.GRADER_ERROR, ["The grader failed", "not a zero"], ["bad zip"]),
    ],
)
def test_submissions_that_were_not_graded_get_an_explanation(
    lab2: LabSpec, status: RecordStatus, shown: list[str], hidden: list[str]
) -> None:
    page = render_feedback(record("gus", [], status=status, error="bad zip <file>"), lab2)
    for text in shown:
        assert text.replace("<", "&lt;").replace(">", "&gt;") in page
    for text in hidden:
        assert text not in page
    assert "points (" not in page


def test_pages_load_nothing_from_elsewhere(lab2: LabSpec) -> None:
    good = record("hal", [sigmoid_with(check("forward"))])
    for page in (render_feedback(good, lab2), render_summary([good], lab2)):
        assert "default-src 'none'; img-src data:" in page
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
        assert "<link" not in page and "@import" not in page and "<script" not in page


def test_write_feedback_and_summary(tmp_path: Path, lab2: LabSpec) -> None:
    good = record("ivy", [sigmoid_with(check("forward"))])
    write_feedback(good, lab2, tmp_path / "feedback" / "ivy.html")
    write_summary([good], lab2, tmp_path / "summary.html")
    assert (
        (tmp_path / "feedback" / "ivy.html")
        .read_text(encoding="utf-8")
        .startswith("<!DOCTYPE html>")
    )
    assert "Class summary" in (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["feedback", "ivy.html", "summary.html"]


# -- summary --------------------------------------------------------------------------------------
def test_numbers_and_lists_of_numbers_are_blanked() -> None:
    assert normalise_message("got 0.731 at index 3") == normalise_message("got 0.5 at index 7")
    assert normalise_message("worst at index [3, 1]: expected -1.5e-07, got nan.") == (
        "worst at index [#]: expected #, got #."
    )
    # Numbers inside names are part of the name.
    assert normalise_message("dtype float64, expected float32") == "dtype float64, expected float32"


@given(st.floats(allow_nan=True), st.floats(allow_nan=True), st.integers(), st.integers())
def test_messages_differing_only_in_numbers_group_together(
    a: float, b: float, i: int, j: int
) -> None:
    template = "worst at index [{}, {}]: expected {}, got {} (|diff| {})"
    assert normalise_message(template.format(i, j, a, b, abs(a - b))) == normalise_message(
        template.format(j, i, b, a, 0.1)
    )


def test_summary_counts_statuses_and_groups_failures(lab2: LabSpec) -> None:
    def wrong(got: float, index: int) -> ExerciseResult:
        message = f"worst at index [{index}]: expected 0.73105858, got {got}"
        return sigmoid_with(
            check("forward", Status.FAILED, message=message),
            check("large inputs", Status.FAILED, hidden=True, message=f"{SECRET} {got}"),
        )

    records = [
        record("s1", [wrong(0.5, 3)]),
        record("s2", [wrong(0.25, 7)]),
        record("s3", [sigmoid_with(check("forward"), check("large inputs", hidden=True))]),
        record("s4", [zero("lab2.sigmoid", 2.0, Status.MISSING, "sigmoid is not defined")]),
        record("s5", [], status=RecordStatus.SUBMISSION_ERROR, error="not a notebook"),
    ]
    rows, stats = class_statistics(iter(records), lab2)
    graded = [r.student for r in rows if r.status is RecordStatus.GRADED]
    assert graded == ["s1", "s2", "s3", "s4"]
    assert rows[-1].error == "not a notebook"
    sigmoid = next(e for e in stats if e.id == "lab2.sigmoid")
    assert sigmoid.statuses == {Status.FAILED: 2, Status.PASSED: 1, Status.MISSING: 1}
    assert sigmoid.pass_rate == 0.25
    groups = [(g.check, g.pattern, sorted(g.students)) for g in sigmoid.top_failures()]
    assert groups == [
        ("[hidden] large inputs", "hidden input # SECRET #", ["s1", "s2"]),
        ("forward", "worst at index [#]: expected #, got #", ["s1", "s2"]),
        ("missing", "sigmoid is not defined", ["s4"]),
    ]
    page = render_summary(records, lab2)
    assert "Staff only" in page and "SECRET" in page
    assert len(images(page)) == 2  # the histogram and the pass rates
    assert "not a notebook" in page
    assert re.search(r"<div><b>4</b> graded</div>", page)


def test_failure_patterns_keep_the_numbers_every_student_shares() -> None:
    formula = "expected 1/(1 + exp(-x)) = {} at index [{}], got {}"
    group = FailureGroup("forward", "pattern", formula.format(0.73, 3, 0.5))
    group.add("s1", group.example)
    assert group.shown == group.example  # one student: nothing varies
    group.add("s2", formula.format(0.73, 5, 0.25))
    assert group.shown == "expected 1/(1 + exp(-x)) = 0.73 at index [#], got #"
    group.add("s3", "expected 1/(1 + exp(-x)) = 0.73 at index [2, 1], got 0.25")
    assert group.shown == "expected 1/(1 + exp(-x)) = 0.73 at index [#], got #"


def test_summary_sections_fold_and_a_long_list_of_students_starts_folded(lab2: LabSpec) -> None:
    short = render_summary(_class(lab2), lab2)
    assert short.count('<details class="section" open>') == 4  # grades ... students
    assert short.count('<details class="exercise"') == len(lab2.exercises)
    many = [record(f"s{k:03d}", [sigmoid_with(check("forward"))]) for k in range(OPEN_ROWS + 1)]
    long = render_summary(many, lab2)
    assert '<details class="section">\n  <summary><h2>Students (41)</h2>' in long


def test_summary_of_a_class_with_no_graded_submission(lab2: LabSpec) -> None:
    failed = record("zed", [], status=RecordStatus.GRADER_ERROR, error="worker died")
    page = render_summary([failed], lab2)
    assert "No submission was graded" in page and images(page) == []
    assert "worker died" in page  # staff see the grader's error


def test_summary_refuses_records_of_another_lab(lab2: LabSpec) -> None:
    with pytest.raises(UsageError, match="not for lab lab2"):
        render_summary([record("x", [], lab="lab3")], lab2)


# -- in a real browser ----------------------------------------------------------------------------
_CHROMIUM = shutil.which("chromium")
# Counts the figures that loaded and have pixels, once the page has loaded.
_PROBE = """<script>addEventListener("load", () => {
  const all = Array.from(document.images);
  document.body.dataset.loaded = all.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.images = all.length;
});</script>"""
_CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')


def _chromium(page: Path, profile: Path, *args: str) -> str:
    if _CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    command = [
        _CHROMIUM,
        "--headless",
        "--no-sandbox",  # needed as root, harmless otherwise
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def _probe(tmp_path: Path, html: str, *, keep_policy: bool = False) -> dict[str, int]:
    """Load ``html`` with the probe script and read back what it wrote on the body."""
    if not keep_policy:
        # The pages refuse every script; the probe is the test's, not the page's.
        html, replaced = _CSP.subn("", html)
        assert replaced == 1
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</head>", _PROBE + "</head>"), encoding="utf-8")
    dom = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert "</body>" in dom
    return {k: int(v) for k, v in re.findall(r'data-(loaded|images)="(\d+)"', dom)}


def _screenshot_is_not_blank(tmp_path: Path, html: str) -> None:
    page = tmp_path / "page.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    _chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=420,900")
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (900, 420)  # a phone-sized window
    inked = (pixels.min(axis=2) < 0.9).mean()
    coloured = (pixels.max(axis=2) - pixels.min(axis=2) > 0.3).mean()
    assert inked > 0.02 and coloured > 0.001


def _class(lab: LabSpec) -> list[SubmissionRecord]:
    outcomes = [Status.PASSED, Status.FAILED, Status.ERROR, Status.PASSED]
    return [
        record(
            f"student{k}",
            [
                sigmoid_with(check("forward", outcomes[k % 4], message=f"got {k / 7:.3f}")),
                zero("lab2.tanh", 2.0, Status.MISSING, "tanh is not defined"),
            ],
        )
        for k in range(12)
    ]


@pytest.mark.browser
def test_feedback_page_shows_its_figures_in_chromium(tmp_path: Path, lab7: LabSpec) -> None:
    series = {"loss": [2.0 / (k + 1) for k in range(30)], "accuracy": [0.8] * 30}
    training = score_exercise(
        "lab7.train_digits",
        7.0,
        [check("test accuracy", Status.FAILED, message="accuracy 0.8", series=series)],
        output=ATTACK,
    )
    drawn = score_exercise("lab7.train_digits", 7.0, [_task()]).model_copy(
        update={"sweep": _slope_sweep()}
    )
    html = render_feedback(record("amy", [training, drawn], lab="lab7"), lab7)
    # The training curves, and a function against its reference with a task's tiers.
    assert _probe(tmp_path, html) == {"loaded": 4, "images": 4}
    _screenshot_is_not_blank(tmp_path, html)


@pytest.mark.browser
def test_summary_page_shows_its_figures_in_chromium(tmp_path: Path, lab2: LabSpec) -> None:
    html = render_summary(_class(lab2), lab2)
    assert _probe(tmp_path, html) == {"loaded": 2, "images": 2}
    _screenshot_is_not_blank(tmp_path, html)


@pytest.mark.browser
def test_pages_refuse_to_run_scripts_in_chromium(tmp_path: Path, lab2: LabSpec) -> None:
    html = render_feedback(record("mal", [sigmoid_with(check("forward"))]), lab2)
    assert _probe(tmp_path, html, keep_policy=True) == {}


def test_pages_show_points_with_at_most_two_decimals(lab2: LabSpec) -> None:
    def passing(count: int) -> ExerciseResult:
        statuses = [Status.PASSED] * count + [Status.FAILED] * (3 - count)
        return sigmoid_with(*(check(f"c{i}", status) for i, status in enumerate(statuses)))

    assert passing(1).score == 0.666667  # exact enough, for JSON and CSV
    page = render_feedback(record("ana", [passing(1)]), lab2)
    assert "0.67" in page and "0.666667" not in page
    records = [record(s, [passing(n)]) for s, n in [("ana", 1), ("ben", 2), ("cy", 3)]]
    summary = render_summary(records, lab2)
    assert "1.33" in summary  # the mean and the median
    text = re.sub(r"data:image/png;base64,[^\"]+", "", summary)
    assert not re.search(r"\d\.\d{3}", text)
