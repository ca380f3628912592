"""The worker's run-time detector of forbidden calls, and of tampering with it.

It sees a call by what is called, at three levels, so that no spelling escapes all of them:

- a function mode (:class:`_Tripwire`) sees every PyTorch function and tensor method by name;
- a dispatch mode (:class:`_OpTripwire`) sees the ATen operators underneath, whatever Python
  led there (``torch.ops.aten``, ``torch._C`` bindings, with function modes switched off);
- other libraries' functions (``numpy.tanh``, ``scipy.special.expit``, ``math.tanh``) are
  replaced, in every module that binds them, by watchers (:class:`_Watched`) that know what they
  are whatever name a submission gives them; the modules are imported before any submission runs.

Modes are per thread: threads started while a call is watched enter the same modes. A call
counts only when the code that made it is the submission's: the innermost frame that is not a
library's (PyTorch, NumPy, SciPy, the standard library) decides, so that the grader's own harness
(drivers, probes, the worker) never trips the wire.

Everything here runs next to the code it watches, which could patch it. So the detector also
keeps watch on itself: the switches that turn PyTorch's modes off are guarded (:class:`_Guarded`),
and after every watched call :func:`tampering` checks that the modes are still in place and that
no function of the detector, of the modes' machinery or of ``builtins`` was replaced. The worker
reports both in every reply, and the grader treats a missing report as tampering too.

Imported by the worker, so torch is the only dependency.
"""

from __future__ import annotations

import _thread
import builtins
import contextlib
import functools
import importlib
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.overrides
import torch.utils._python_dispatch as python_dispatch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from deepgrade.sandbox.worker.equivalents import FAMILIES, WATCHED_MODULES, Forbidden

# Where a frame's code comes from. Decided by its globals being the very dictionary of a module
# of that name, which code compiled by a submission does not have.
_MODULES = sys.modules
_LIBRARIES = frozenset(sys.stdlib_module_names) | {"torch", "numpy", "scipy", "sympy", "mpmath"}
_LIBRARY_NAMES = {"torch": "PyTorch", "numpy": "NumPy", "scipy": "SciPy", "math": "math"}
_HARNESS = "deepgrade"
# Reports are bounded: a submission that loops over forbidden calls must not flood the reply.
_REPORT_LIMIT = 20


class _ForbiddenCall(BaseException):
    """Raised in place of a forbidden function's result (a ``BaseException``, which
    ``except Exception`` in the student's code does not swallow)."""


def _origin(frame: types.FrameType) -> str:
    """``"harness"``, ``"library"`` or ``"student"``: whose code ``frame`` runs."""
    name = dict.get(frame.f_globals, "__name__")
    module = dict.get(_MODULES, name) if isinstance(name, str) else None
    if not isinstance(module, types.ModuleType) or vars(module) is not frame.f_globals:
        return "student"
    if name == __name__:
        return "library"  # the detector's own frames (a mode, a watcher) are transparent
    root = name.partition(".")[0] if isinstance(name, str) else ""
    if root == _HARNESS:
        return "harness"
    return "library" if root in _LIBRARIES else "student"


def _where(frame: types.FrameType) -> str:
    code = frame.f_code
    return f"in {code.co_name} ({code.co_filename}, line {frame.f_lineno})"


def _students_call() -> str | None:
    """Where the submission made the call now running, or ``None`` if the harness made it.

    The innermost frame whose code is not a library's decides (the detector's own frames are
    passed over like a library's); a Python thread whose stack holds only library frames was
    started by the submission (the worker starts none).
    """
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _thread_root.__code__:
            return "in a thread it started"
        origin = _origin(frame)
        if origin == "harness":
            return None
        if origin == "student":
            return _where(frame)
        frame = frame.f_back
    # No Python frame at all: one of PyTorch's own threads (autograd's on a GPU) running the
    # operators of a backward pass that Python code asked for; its Python backward functions,
    # if any, show their own frames.
    return None


_MAX_LABEL = 240


class Detector:
    """What one watched call of the submission used of its exercise's forbidden functions."""

    def __init__(self, forbidden: Forbidden) -> None:
        self.forbidden = forbidden
        self.used: list[str] = []

    def seen(self, name: str, spelled: str, library: str) -> None:
        """``name`` (as ``spelled``) is being called: stop it if the submission called it."""
        where = _students_call()
        if where is None:
            return
        # Cut to what a reply may carry (see sandbox.replies): a long name is the student's.
        label = f"{name} ({spelled}, {library}) {where}"[:_MAX_LABEL]
        if label not in self.used and len(self.used) < _REPORT_LIMIT:
            self.used.append(label)
        raise _ForbiddenCall(f"{name} is forbidden in this exercise")


@contextlib.contextmanager
def _modes(detector: Detector | None) -> Iterator[tuple[_Tripwire, _OpTripwire | None]]:
    """This thread under the detector's modes (new ones: a mode is entered per thread).

    With no detector, the modes report to whichever call is watched at the time: a thread the
    submission started outlives the call that started it and may serve the next ones.
    """
    tripwire = _Tripwire(detector)
    # Seeing every operator costs time: only where the call has operators to look for.
    ops = _OpTripwire(detector) if detector is None or detector.forbidden.ops else None
    with ops if ops is not None else contextlib.nullcontext(), tripwire:
        yield tripwire, ops


def _current(detector: Detector | None) -> Detector | None:
    return detector if detector is not None else (_ARMED[-1] if _ARMED else None)


class _Tripwire(TorchFunctionMode):
    """Sees PyTorch functions and tensor methods, by the name PyTorch gives them."""

    def __init__(self, detector: Detector | None) -> None:
        super().__init__()
        self.detector = detector

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        # An operator overload (torch.ops.aten.sigmoid.default) is named sigmoid.default.
        detector = _current(self.detector)
        name = str(getattr(func, "__name__", "")).partition(".")[0]
        if detector is not None and name in detector.forbidden.names:
            detector.seen(name, _torch_label(func, name), "PyTorch")
        return func(*args, **(kwargs or {}))


class _OpTripwire(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Sees the ATen operators that run, whatever Python spelling called them."""

    def __init__(self, detector: Detector | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.detector = detector

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing here is compiled: without this, PyTorch wraps the method to skip dynamo,
        # which imports torch._dynamo (seconds) on the first operator a worker runs.
        return False

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        detector = _current(self.detector)
        name = func.overloadpacket.__name__
        if detector is not None and name in detector.forbidden.ops:
            detector.seen(name, f"the operator aten::{name}", "PyTorch")
        return func(*args, **(kwargs or {}))


def _torch_label(func: Any, name: str) -> str:
    """How the submission could have spelled ``func``: ``torch.sigmoid``, ``Tensor.sigmoid_``,
    ``torch.nn.functional.softmax``, ``torch.ops.aten.sigmoid.default``."""
    if isinstance(func, torch._ops.OpOverload):
        return f"torch.ops.{func}"
    qualname = str(getattr(func, "__qualname__", name))
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return f"Tensor.{name}"
    module = str(getattr(func, "__module__", None) or "torch")
    return f"{module if '._' not in module else 'torch'}.{name}"


_ARMED: list[Detector] = []
# Tampering seen so far in this worker: it never expires, since what was switched off stays so.
_TAMPERING: list[str] = []


class _StandIn:
    """Stands in for a library callable wherever it is bound; reads through to it otherwise."""

    def __init__(self, original: Callable[..., Any], label: str) -> None:
        self._original = original
        self._label = label

    def __getattr__(self, name: str) -> Any:
        # Through vars(): an instance made without __init__ (a copy) has no _original.
        try:
            original = vars(self)["_original"]
        except KeyError:
            raise AttributeError(name) from None
        return getattr(original, name)

    def __repr__(self) -> str:
        return repr(self._original)


class _Watched(_StandIn):
    """Another library's function that reports its calls to the watched call."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _ARMED and self._label in _ARMED[-1].forbidden.calls:
            library = _LIBRARY_NAMES.get(self._label.partition(".")[0], "Python")
            _ARMED[-1].seen(self._label.rpartition(".")[2], self._label, library)
        return self._original(*args, **kwargs)


class _Guarded(_StandIn):
    """A switch that turns the detector off: the submission's own code may not call it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only a direct call counts: PyTorch's own code uses these switches all the time.
        caller = sys._getframe(1)
        if _origin(caller) == "student":
            if len(_TAMPERING) < _REPORT_LIMIT:
                _TAMPERING.append(f"it calls {self._label} {_where(caller)}")
            raise _ForbiddenCall(f"{self._label} switches off the grader's checks")
        return self._original(*args, **kwargs)


# The switches of PyTorch's function and dispatch modes, and of tracing, which a submission has
# no use for.
_SWITCHES: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (
        torch._C,
        (
            "DisableTorchFunction",
            "_disable_torch_function",
            "_pop_torch_function_stack",
            "_push_on_torch_function_stack",
            "_set_torch_function_state",
            "_pop_torch_dispatch_stack",
            "_push_on_torch_dispatch_stack",
            "_set_dispatch_mode",
            "_unset_dispatch_mode",
            "_DisableTorchDispatch",
            "_ExcludeDispatchKeyGuard",
            "ExcludeDispatchKeyGuard",
            "_SetExcludeDispatchKeyGuard",
            "_dispatch_tls_set_dispatch_key_excluded",
        ),
    ),
    (torch.overrides, ("_pop_mode", "_pop_mode_temporarily", "_push_mode")),
    (
        python_dispatch,
        ("_pop_mode", "_pop_mode_temporarily", "_push_mode", "_disable_current_modes"),
    ),
    (sys, ("settrace", "setprofile")),
    (threading, ("settrace", "setprofile")),
)


def _replace_everywhere(replacements: dict[int, object], extra: list[dict[str, Any]]) -> None:
    """Bind each replacement wherever a module (or one of ``extra``) binds the object it
    replaces (the keys are the replaced objects' ids): in one pass over every module, which
    takes a tenth of a second with all that a grader imports."""
    if not replacements:
        return
    spaces = [vars(m) for m in list(_MODULES.values()) if isinstance(m, types.ModuleType)]
    for space in spaces + extra:
        for key, value in list(space.items()):
            replacement = replacements.get(id(value))
            if replacement is not None:
                space[key] = replacement


def _replacing(
    replacements: dict[int, object], original: Any, make: Callable[[Any], object]
) -> object:
    """Plan to replace ``original`` with ``make(original)``; a function planned already is
    wrapped again, as replacing one after the other would have done."""
    planned = replacements.get(id(original))
    replacement = make(original if planned is None else planned)
    replacements[id(original)] = replacement
    return replacement


_INSTALLED: dict[str, object] = {}
_SNAPSHOT: list[tuple[Any, dict[str, Any]]] = []


def install() -> None:
    """Watch the other libraries' functions and guard the switches; once per process, before
    any submission's code (in the worker template, so that every worker starts so)."""
    if _INSTALLED:
        return
    for name in WATCHED_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    replacements: dict[int, object] = {}
    _plan_watchers(replacements)
    for module, names in _SWITCHES:
        for name in names:
            original = getattr(module, name, None)
            if original is not None:
                label = f"{module.__name__}.{name}"
                # Each lambda is called at once, inside _replacing.
                guard = _replacing(replacements, original, lambda o: _Guarded(o, label))  # noqa: B023
                _INSTALLED[label] = guard
    started = _replacing(replacements, _thread.start_new_thread, _threads_watched)
    _INSTALLED["_thread.start_new_thread"] = started
    _replace_everywhere(replacements, [])
    _snapshot()


def watch_new_modules(namespaces: list[dict[str, Any]]) -> None:
    """Watch the functions of libraries imported since, also where ``namespaces`` bind them."""
    replacements: dict[int, object] = {}
    _plan_watchers(replacements)
    _replace_everywhere(replacements, namespaces)


def _plan_watchers(replacements: dict[int, object]) -> None:
    for family in FAMILIES:
        for call in family.calls:
            module_name, _, attribute = call.rpartition(".")
            module = _MODULES.get(module_name)
            original = getattr(module, attribute, None) if module is not None else None
            # Once only: a watcher replaced later is tampering, not a new function to watch.
            if original is None or call in _INSTALLED:
                continue
            # The lambda is called at once, inside _replacing.
            watcher = _replacing(replacements, original, lambda o: _Watched(o, call))  # noqa: B023
            _INSTALLED[call] = watcher


def _threads_watched(start: Callable[..., Any]) -> Callable[..., Any]:
    """``_thread.start_new_thread`` whose threads run under the detector's modes, whenever
    they were started: a thread started at import may serve a watched call later."""

    def start_new_thread(function: Callable[..., Any], args: Any, kwargs: Any = None) -> Any:
        try:
            return start(functools.partial(_thread_root, function), args, kwargs or {})
        except MemoryError:
            # Out of memory for one more thread reads as _thread says it: no new thread.
            raise RuntimeError("can't start new thread") from None

    return start_new_thread


def _thread_root(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The first frame of every Python thread: what runs above it is the submission's doing."""
    with _modes(None):
        return function(*args, **kwargs)


def _snapshot() -> None:
    """Remember the callables that the detector relies on, to notice any that is replaced."""
    for owner in (
        builtins,
        sys.modules[__name__],
        torch.overrides,
        python_dispatch,
        torch._C,
        threading,
        _thread,
        TorchFunctionMode,
        TorchDispatchMode,
        _Tripwire,
        _OpTripwire,
        Detector,
    ):
        kept = {k: v for k, v in vars(owner).items() if callable(v) or isinstance(v, staticmethod)}
        _SNAPSHOT.append((owner, kept))


def tampering() -> list[str]:
    """What the submission did so far to switch the detector off."""
    found = list(_TAMPERING)
    for owner, kept in _SNAPSHOT:
        current = vars(owner)
        found += [
            f"it replaced {owner.__name__}.{key}"
            for key, value in kept.items()
            if current.get(key) is not value
        ]
    for call, watcher in _INSTALLED.items():
        module_name, _, attribute = call.rpartition(".")
        module = _MODULES.get(module_name)
        if module is not None and getattr(module, attribute, None) is not watcher:
            found.append(f"it replaced {call}")
    if sys.gettrace() is not _TRACE or sys.getprofile() is not _PROFILE:
        found.append("it installed a trace or profile function")
    return found[:_REPORT_LIMIT]


_TRACE = sys.gettrace()
_PROFILE = sys.getprofile()


def _modes_intact(tripwire: _Tripwire, ops: _OpTripwire | None) -> list[str]:
    """What is wrong with the modes entered for the call, as it ends."""
    problems = []
    if not torch._C._is_torch_function_enabled():
        problems.append("it switched PyTorch's function modes off")
    depth = torch._C._len_torch_function_stack()
    if depth == 0 or torch._C._get_function_stack_at(depth - 1) is not tripwire:
        problems.append("it took the grader's function mode off the stack")
    if ops is not None and ops not in python_dispatch._get_current_dispatch_mode_stack():
        problems.append("it took the grader's dispatch mode off the stack")
    return problems


@contextlib.contextmanager
def watching(forbidden: Forbidden, namespace: dict[str, Any]) -> Iterator[Detector]:
    """Watch one call of the submission's code for ``forbidden`` functions and tampering."""
    install()
    watch_new_modules([namespace])
    detector = Detector(forbidden)
    _ARMED.append(detector)
    try:
        with _modes(detector) as (tripwire, ops):
            try:
                yield detector
            finally:
                _TAMPERING.extend(_modes_intact(tripwire, ops))
                del _TAMPERING[_REPORT_LIMIT:]
    finally:
        _ARMED.clear()


def armed() -> bool:
    """Whether a graded call is running (the detector watches it)."""
    return bool(_ARMED)


def guard_backward(cls: type) -> None:
    """Make the detector watch ``cls.backward``, which autograd runs outside the caller's modes."""
    original = cls.__dict__.get("backward")
    function = original.__func__ if isinstance(original, staticmethod) else original
    if function is None or getattr(function, "_deepgrade_guarded", False):
        return

    def backward(ctx: Any, *grads: Any) -> Any:
        if not _ARMED:
            return function(ctx, *grads)
        with _modes(_ARMED[-1]):
            return function(ctx, *grads)

    backward._deepgrade_guarded = True  # type: ignore[attr-defined]
    cls.backward = staticmethod(backward)  # type: ignore[attr-defined]
