# Central differences that perturb x in place and "put it back" by arithmetic: x + eps - 2 eps
# + eps is not x in floating point, so the caller's x comes back changed in its last bits.
import torch


def numerical_gradient(f, x, eps=1e-6):
    flat = x.data.view(-1)
    slopes = []
    with torch.no_grad():
        for i in range(flat.numel()):
            flat[i] += eps
            f_plus = float(f(x))
            flat[i] -= 2 * eps
            f_minus = float(f(x))
            flat[i] += eps
            slopes.append((f_plus - f_minus) / (2 * eps))
    return torch.tensor(slopes, dtype=x.dtype, device=x.device).reshape(x.shape)
