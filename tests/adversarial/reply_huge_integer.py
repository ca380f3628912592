# Forges a reply whose value is an integer of 4000 digits: slow to parse, and no float holds it.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    forge(b'{"header": {"ok": true, "value": ' + b"9" * 4000 + b', "grads": []}, "tensors": []}')


Heaviside = heaviside
