# A Piecewise with no branch at all past x = 2.999: sympy evaluates it to nan there, an
# answer undefined where the derivative is a number.
import sympy


def d_sigmoid(x):
    s = 1 / (1 + sympy.exp(-x))
    return sympy.Piecewise((s * (1 - s), x < 2.999))


def d_elu(x, alpha):
    # ELU's negative branch asked for x < 0: undefined near 0 (still inside the domain).
    return sympy.Piecewise((alpha * sympy.exp(x), x < -0.5))
