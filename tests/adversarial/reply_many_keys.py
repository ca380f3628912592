# Forges a reply with a dictionary of 600 000 keys (7 MB of JSON, far more once built).
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    keys = b",".join(b'"%d": 0' % i for i in range(600_000))
    forge(b'{"header": {"ok": true, "value": {"__dict__": {' + keys + b"}}}, " b'"tensors": []}')


Heaviside = heaviside
