# Forges a reply whose value is JSON's non-standard NaN literal, and backward grads of 1e999
# (infinity once parsed): numbers that must cross as __float__, if at all.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    if x.requires_grad:
        forge(b'{"header": {"ok": true, "value": 1e999, "grads": [1e999]}, "tensors": []}')
    forge(b'{"header": {"ok": true, "value": NaN}, "tensors": []}')


Heaviside = heaviside
