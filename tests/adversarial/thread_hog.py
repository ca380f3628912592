# Spins 32 threads in every call: all the threads' CPU time is the worker's, so the exercise's
# CPU seconds run out (faster than the wall clock on a machine with several cores).
import threading

from torch.autograd import Function


def spin():
    while True:
        pass


def hog():
    for _ in range(32):
        threading.Thread(target=spin, daemon=True).start()
    spin()


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        hog()

    @staticmethod
    def backward(ctx, grad_output):
        hog()


def heaviside(x):
    return Heaviside.apply(x)
