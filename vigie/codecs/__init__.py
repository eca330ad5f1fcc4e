"""Wire grammars shared by every side of Vigie (intake, pipelines, archive), like Vector's lib/codecs.

Pure functions on bytes and strings: nothing here imports the producers, the pipelines or the command line.
"""
