# A module saved in Latin-1 without a coding declaration: "Résumé".
import torch
