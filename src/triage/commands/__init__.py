"""The `triage` command line's entry points, one module per command group (`triage.cli` wires argparse to them).

The third layer: the library (`triage.*`) does the work and never imports argparse or this package; `triage.stages`
are DVC's entry points; these read the parsed arguments, call the library, print, and return a `triage.errors.ExitCode`.
"""
