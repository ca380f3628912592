"""What computes the same thing as a forbidden function, declared once as data.

A lab forbids a function by one of its names (``forbidden = ["sigmoid"]``, or a dotted
``"torch.sigmoid"``); a submission may reach the same computation by another spelling: an
in-place variant, a tensor method, an alias in another namespace, the operator underneath, or
another library. Each :class:`Family` lists every way to one computation, at the three levels
where the grader can see a call:

- ``names``: Python-level spellings (the source scan's attribute and import names, and the
  ``__name__`` a PyTorch function reports to a function mode);
- ``ops``: ATen operators, as a dispatch mode sees them whatever Python spelling led there;
- ``calls``: functions of other libraries, by module and attribute (``numpy.tanh``), watched in
  the worker by identity, whatever name the submission binds them to.

Forbidding any name of a family forbids the whole family. In-place variants (a trailing ``_``)
of names and operators are implied. Imported by the worker, so it has no dependency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    """Every way to call one computation."""

    names: frozenset[str]
    ops: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()


def _family(names: str, ops: str = "", calls: str = "") -> Family:
    return Family(frozenset(names.split()), frozenset(ops.split()), frozenset(calls.split()))


# Only aliases that compute the very function: a family must never reach an operation that an
# honest solution uses to write the function itself (exp, log1p, maximum, where, matmul...).
FAMILIES: tuple[Family, ...] = (
    _family("sigmoid expit special_expit Sigmoid logistic", "sigmoid", "scipy.special.expit"),
    _family("tanh Tanh", "tanh", "numpy.tanh math.tanh cmath.tanh"),
    _family("relu ReLU", "relu"),
    _family("leaky_relu LeakyReLU", "leaky_relu"),
    _family("elu ELU celu CELU", "elu celu"),
    _family("softplus Softplus", "softplus"),
    _family("logsigmoid LogSigmoid log_sigmoid", "log_sigmoid log_sigmoid_forward"),
    _family("heaviside Heaviside", "heaviside", "numpy.heaviside"),
    _family("prelu PReLU _prelu_kernel", "prelu _prelu_kernel"),
    _family(
        "softmax Softmax special_softmax _softmax", "softmax _softmax", "scipy.special.softmax"
    ),
    _family(
        "log_softmax LogSoftmax special_log_softmax _log_softmax",
        "log_softmax _log_softmax",
        "scipy.special.log_softmax",
    ),
    _family("logsumexp special_logsumexp", "logsumexp", "scipy.special.logsumexp"),
    _family("mse_loss MSELoss", "mse_loss"),
    _family("l1_loss L1Loss"),
    _family("binary_cross_entropy BCELoss", "binary_cross_entropy"),
    _family(
        "binary_cross_entropy_with_logits BCEWithLogitsLoss", "binary_cross_entropy_with_logits"
    ),
    _family("cross_entropy CrossEntropyLoss", "cross_entropy_loss"),
    _family("nll_loss NLLLoss", "nll_loss nll_loss_forward nll_loss2d_forward nll_loss_nd"),
    _family("linear", "linear"),
    _family("addmm", "addmm"),
    _family(
        "inv inv_ex inverse linalg_inv linalg_inv_ex",
        "inverse linalg_inv linalg_inv_ex",
        "numpy.linalg.inv scipy.linalg.inv",
    ),
    _family("pinv linalg_pinv", "linalg_pinv", "numpy.linalg.pinv scipy.linalg.pinv"),
    # Lab 8's layers. F.unfold and F.fold (im2col, col2im) stay allowed: they are how an
    # honest convolution or pooling is written.
    _family(
        "conv2d Conv2d convolution _convolution",
        "conv2d convolution _convolution mkldnn_convolution _slow_conv2d_forward "
        "thnn_conv2d cudnn_convolution",
        "scipy.signal.convolve2d scipy.signal.correlate2d",
    ),
    _family(
        "max_pool2d MaxPool2d max_pool2d_with_indices",
        "max_pool2d max_pool2d_with_indices mkldnn_max_pool2d",
    ),
    _family(
        "batch_norm BatchNorm2d native_batch_norm",
        "batch_norm native_batch_norm _native_batch_norm_legit "
        "_native_batch_norm_legit_no_training _batch_norm_impl_index cudnn_batch_norm",
    ),
    _family("dropout Dropout native_dropout", "dropout native_dropout"),
    # Lab 10's attention, layer norm and transformer layers.
    _family(
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_flash_attention "
        "_scaled_dot_product_efficient_attention _scaled_dot_product_cudnn_attention",
    ),
    _family("layer_norm LayerNorm", "native_layer_norm"),
    _family("MultiheadAttention multi_head_attention_forward", "_native_multi_head_attention"),
    _family(
        "Transformer TransformerEncoder TransformerEncoderLayer TransformerDecoder "
        "TransformerDecoderLayer",
        "_transformer_encoder_layer_fwd",
    ),
    # The recurrent layers: a cell, and the whole unrolled loop (PyTorch's _VF functions).
    _family("RNNCell rnn_tanh_cell rnn_relu_cell", "rnn_tanh_cell rnn_relu_cell"),
    _family("RNN rnn_tanh rnn_relu", "rnn_tanh rnn_relu"),
    _family("LSTMCell lstm_cell", "lstm_cell"),
    _family("LSTM lstm", "lstm"),
    _family("GRUCell gru_cell", "gru_cell"),
    _family("GRU gru", "gru"),
    # Gradient clipping by the global norm, in one call or in its two halves (PyTorch >= 2.6).
    _family("clip_grad_norm_ clip_grad_norm clip_grads_with_norm_ get_total_norm"),
)


@dataclass(frozen=True)
class Forbidden:
    """An exercise's forbidden functions, at every level where a call can be seen."""

    names: frozenset[str] = field(default_factory=frozenset)
    ops: frozenset[str] = field(default_factory=frozenset)
    calls: frozenset[str] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return bool(self.names or self.ops or self.calls)

    def to_wire(self) -> dict[str, list[str]]:
        return {"names": sorted(self.names), "ops": sorted(self.ops), "calls": sorted(self.calls)}

    @classmethod
    def from_wire(cls, data: object) -> Forbidden:
        if not isinstance(data, dict):
            return cls()
        return cls(*(frozenset(str(n) for n in data.get(k, ())) for k in ("names", "ops", "calls")))


def expand(forbidden: Iterable[str]) -> Forbidden:
    """Everything a lab's ``forbidden`` list forbids, whatever the spelling of each entry."""
    names: set[str] = set()
    ops: set[str] = set()
    calls: set[str] = set()
    for entry in forbidden:
        root, _, last = entry.rpartition(".")
        names.add(last)
        if root and root.split(".")[0] != "torch":
            calls.add(entry)  # another library's function, named in full: numpy.linalg.inv
    for family in FAMILIES:
        if family.names & names or family.calls & calls:
            names |= family.names
            ops |= family.ops
            calls |= family.calls
    return Forbidden(
        frozenset(_with_in_place(names)), frozenset(_with_in_place(ops)), frozenset(calls)
    )


def _with_in_place(names: set[str]) -> set[str]:
    """Names with their in-place variants: ``sigmoid_`` computes what ``sigmoid`` does."""
    return names | {name + "_" for name in names if name[:1].islower() and not name.endswith("_")}


# The libraries whose functions those families name: imported before any submission runs, so
# that a function a submission imports inside its own code is already watched.
WATCHED_MODULES = sorted({call.rpartition(".")[0] for f in FAMILIES for call in f.calls})
