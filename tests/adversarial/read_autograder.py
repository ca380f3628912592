# In an exported autograder's layout (@AUTOGRADER@ is its root, as Gradescope's /autograder),
# tries to read the checks, the references and the export's configuration, to list the results
# folder and to write a results.json there; raises what each attempt gave.
import json
from pathlib import Path

import torch
from torch.autograd import Function

ROOT = Path("@AUTOGRADER@")
LAB = ROOT / "source" / "autograder" / "lab2_activations"


def attempt(action):
    try:
        action()
    except OSError as exc:
        return type(exc).__name__
    return "allowed"


FOUND = {
    "checks": attempt(lambda: (LAB / "hidden.toml").read_text()),
    "references": attempt(lambda: (LAB / "references.py").read_text()),
    "config": attempt(lambda: (ROOT / "source" / "deepgrade.json").read_text()),
    "list_results": attempt(lambda: list((ROOT / "results").iterdir())),
    "write_results": attempt(lambda: (ROOT / "results" / "results.json").write_text("{}")),
}


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        raise RuntimeError("found " + json.dumps(FOUND, sort_keys=True))

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
