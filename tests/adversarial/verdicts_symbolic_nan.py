# Derivations that the grader's rebuild evaluates to NaN or a complex infinity: 0 * (1/0) built
# unevaluated. NaN - expected is NaN, which no "difference > tolerance" test ever flags; an
# answer undefined where the derivative is a number must fail.
import sympy


def _zoo():
    return sympy.Pow(0, -1, evaluate=False)


def d_sigmoid(x):
    s = 1 / (1 + sympy.exp(-x))
    return sympy.Add(s * (1 - s), sympy.Mul(0, _zoo(), evaluate=False), evaluate=False)


def d_tanh(x):
    return sympy.Add(1 - sympy.tanh(x) ** 2, _zoo(), evaluate=False)
