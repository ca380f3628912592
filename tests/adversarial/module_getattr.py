# Defines nothing, but a module-level __getattr__ that conjures any name asked for.
import torch


def __getattr__(name):
    return lambda *args, **kwargs: torch.ones(1)
