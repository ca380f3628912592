"""Where the test cells of labs released before the notebook package import ``score`` from
(``from deepgrade.testcell import score``): kept so that handed-out notebooks keep working."""

from deepgrade.notebook import score

__all__ = ["score"]
