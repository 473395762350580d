"""Stage 2, verification and parsing: pure functions over bytes and headers, no Django.

May import the foundation only (``errors``, and ``events`` for the parsed ``Envelope``).
"""
