# Imports the solution module by its name, as if the course's folders were on sys.path.
import lab2_activations


class Heaviside(lab2_activations.Heaviside):
    pass


def heaviside(x):
    return lab2_activations.heaviside(x)
