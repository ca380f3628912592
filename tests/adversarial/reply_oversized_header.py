# Announces a reply header of 200 MiB (under the 256 MiB message limit), to be read and parsed.
import os
import struct

def forge(head, blob=b"", announced=None):
    """Write one reply on the worker's reply channel (fd 4) and end the process."""
    size = len(head) if announced is None else announced
    os.write(4, struct.pack(">QQ", size, len(blob)) + head + blob)
    os._exit(0)


def heaviside(x):
    forge(b"", announced=200 << 20)


Heaviside = heaviside
