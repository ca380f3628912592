# Forges a reply whose error type is a list nested 90 000 levels deep: parsed as it comes, it
# costs the grader its stack, and printing it a RecursionError.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    nested = b"[" * 90_000 + b"]" * 90_000
    forge(b'{"header": {"ok": false, "error": {"type": ' + nested + b'}}, "tensors": []}')


Heaviside = heaviside
