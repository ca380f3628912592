"""The data deepgrade works on: labs and exercises as declared, results and records.

Pydantic models and their loading only; nothing here runs a check or a student's code.
"""
