# Branches hidden behind Heaviside, Max and a condition that is no polynomial (exp(x) < 1e6,
# a boundary near x = 13.8): each is wrong beyond a point that random draws in (-3, 3) miss.
import sympy


def d_softplus(x):
    return sympy.Heaviside(x + 5) / (1 + sympy.exp(-x))


def d_sigmoid(x):
    s = 1 / (1 + sympy.exp(-x))
    return sympy.Piecewise((s * (1 - s), sympy.exp(x) < 10**6), (1, True))


def d_tanh(x):
    return 1 - sympy.tanh(x) ** 2 + sympy.Max(0, x - 20)
