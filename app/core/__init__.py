"""The pure core: rules without Flask, a database, mail or Word.

Everything here takes plain values (dates, "now", dataclasses) and returns plain values, so it can
be read and tested on its own. tests/core/test_purity.py guards the imports.
"""
