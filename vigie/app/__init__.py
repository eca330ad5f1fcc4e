"""The composition root and the command line: what wires the parts of Vigie into processes and verbs.

Nothing under vigie/ outside this package imports it.
"""
