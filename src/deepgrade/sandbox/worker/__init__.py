"""Code that runs inside the worker (and its template) only: it imports PyTorch and the
sandbox's wire format, never the grader's modules."""
