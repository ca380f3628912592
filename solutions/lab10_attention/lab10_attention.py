# %% [markdown]
# # Lab 10: attention and transformers
#
# Say here what the lab is about and what students will have built at the end.
#
# **What you implement.** The exercises below, in order. (The scaffold wrote one
# example, `scale`: replace it with the lab's own exercises, each with the same three
# cells: an explanation, the code with its solution between the markers, and a check.)
#
# **Conventions (the grader relies on them).** Shapes, dtypes and devices, what may
# not be called, values at kinks: whatever the checks assume, say it here.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab10_attention.ipynb` in a terminal.

# %%
import torch

# %% [markdown]
# ## 1. Scaling a tensor
#
# Write `scale(x, factor=2.0)`, which multiplies every element of `x` by the number
# `factor`. The result is a new tensor, with the dtype and on the device of `x`, and
# autograd can differentiate through it.


# %%
def scale(x: torch.Tensor, factor: float = 2.0) -> torch.Tensor:
    """Return every element of x times factor."""
    ### BEGIN SOLUTION
    return x * factor
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.scale")
