"""The hardware lab's check functions (course/02-hardware-lab.ipynb), kept at their old address.

They live in :mod:`labkit.exercises.hw`, with every other exercise, and are
registered there as ``hw.tick_cycles``, ``hw.sample_decoder`` and
``hw.rc_limit`` for :func:`labkit.exercises.check`. Notebooks saved before
this session import ``check_tick_cycles``, ``check_sample_decoder`` and ``check_rc_limit`` from
here; they print "✔ ..." or "✘ <hint>", as every other check does. (hw is
not a protocol layer, so this module may import the exercises.)
"""

from __future__ import annotations

from labkit.exercises.hw import check_rc_limit, check_sample_decoder, check_tick_cycles

__all__ = ["check_tick_cycles", "check_sample_decoder", "check_rc_limit"]
