"""The foundation: settings, database access, logging, migrations and process plumbing.

It imports nothing of ours; every other package may import it.
"""
