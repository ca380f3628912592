# Forges a reply with an empty tensor of shape [0, 2**62, 4]: zero bytes, as announced, but a
# shape whose element count overflows 64 bits, which PyTorch cannot even describe.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    value = b'{"__tensor__": 0, "device": "cpu"}'
    layout = b'[["float32", [0, 4611686018427387904, 4]]]'
    forge(b'{"header": {"ok": true, "value": ' + value + b'}, "tensors": ' + layout + b"}")


Heaviside = heaviside
