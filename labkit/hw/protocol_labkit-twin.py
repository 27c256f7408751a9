"""pyserial looks up the handler of ``labkit-twin://`` URLs under this (hyphenated) name.

The code lives in :mod:`labkit.hw.protocol_labkit_twin`.
"""

from labkit.hw.protocol_labkit_twin import Serial

__all__ = ["Serial"]
