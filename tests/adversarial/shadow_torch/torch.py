# A fake torch next to the notebook: were it imported, everything would "pass".
FAKE = True


def allclose(*args, **kwargs):
    return True


def heaviside(x, values=None):
    return x
