# Forges a reply whose tensor claims to live on a device named by 100 000 characters, which the
# grader used to repeat in its message.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    device = b"cuda" + b"x" * 100_000
    value = b'{"__tensor__": 0, "device": "' + device + b'"}'
    layout = b'[["float32", [8]]]'
    head = b'{"header": {"ok": true, "value": ' + value + b'}, "tensors": ' + layout + b"}"
    forge(head, bytes(32))


Heaviside = heaviside
