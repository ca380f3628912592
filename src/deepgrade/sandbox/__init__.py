"""Student code in a separate, killable, isolated process: the worker seen from the grader,
worker templates, isolation, process trees and the wire format between grader and worker.

``worker/`` holds the code that runs inside the worker only.
"""
