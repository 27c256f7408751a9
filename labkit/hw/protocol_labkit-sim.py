"""pyserial looks up the handler of ``labkit-sim://`` URLs under this (hyphenated) name.

The code lives in :mod:`labkit.hw.protocol_labkit_sim`.
"""

from labkit.hw.protocol_labkit_sim import Serial

__all__ = ["Serial"]
