# Hogs every core: at import, six double-forked spinners per core (up to 48), each in a session
# of its own and named @MARKER@ (filled in at test time), then a pause that uses no CPU itself,
# as long as the spinners take to burn about 6 s of CPU (under the 10 s of a cell: the import
# must end, on any machine); every call spins too. It should slow its classmates down, never
# make them time out, and pay for all it burns.
import ctypes
import os
import time

from torch.autograd import Function


def spinner():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"@MARKER@", 0, 0, 0)
            while True:
                pass
        os._exit(0)


CORES = len(os.sched_getaffinity(0))
SPINNERS = min(6 * CORES, 48)  # under the grader's 64 processes
for _ in range(SPINNERS):
    spinner()
time.sleep(6 / min(SPINNERS, CORES))


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        while True:
            pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def heaviside(x):
    return Heaviside.apply(x)
