"""Thin DVC stage entry points, one per stage (`python -m triage.stages.<name>`, run by tools/stage): each reads
params, calls the library and writes its outputs. They are never imported by other code."""
