# Prints HTML and script meant for the feedback page (a fake "20 / 20", a script), and raises an
# exception whose message is HTML too; the answer itself is wrong.
import torch
from torch.autograd import Function

FAKE = '<h1 class="score">20 / 20</h1><script>document.title = "all passed"</script>'


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        print(FAKE)
        return torch.zeros_like(x)

    @staticmethod
    def backward(ctx, grad_output):
        raise ValueError(FAKE)


def heaviside(x):
    return Heaviside.apply(x)
