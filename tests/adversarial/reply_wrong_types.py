# Forges replies whose fields have the wrong types: an error that is a list, grads that are a
# number, printed output that is a dictionary; the grader called methods that these lack.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    if x.requires_grad:
        forge(b'{"header": {"ok": true, "value": 1.0, "grads": 5}, "tensors": []}')
    if x.dtype.is_floating_point and x.numel() == 8:
        forge(b'{"header": {"ok": false, "error": [1, 2]}, "tensors": []}')
    forge(b'{"header": {"ok": true, "value": 1.0, "output": {"a": 1}}, "tensors": []}')


Heaviside = heaviside
