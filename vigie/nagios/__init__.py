"""Nagios Core 4 object configuration: read (reader), resolve (resolve) and expand command lines (macros).

Pure: imports nothing from producers, pipelines or the app; `vigie import nagios` (vigie/app/nagios_cli.py)
turns its result into Vigie configuration.
"""
