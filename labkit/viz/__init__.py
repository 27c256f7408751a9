"""Plots and widgets for the notebooks (matplotlib and ipywidgets).

Only notebooks and the CLI import this package; the protocol layers never do,
so they stay importable on a machine without a display. Every plotting
function takes an optional ``ax`` and returns the matplotlib object it drew on.
One module per topic:

- :mod:`labkit.viz.overview`: the course's big pictures (the data path);
- :mod:`labkit.viz.phy`: waveforms, eye diagrams, BER curves, the live panel
  (re-exported here);
- :mod:`labkit.viz.link`: frames, the wire and a switch at work;
- :mod:`labkit.viz.hw`: the hardware lab's captures and bit error rates;
- :mod:`labkit.viz.sim`: network topologies and sequence diagrams of traces, and a run
  stepped frame by frame (:class:`~labkit.viz.sim.TraceStepper`);
- :mod:`labkit.viz.udp`: notebook 06's panel, loss rate against the application's tries;
- :mod:`labkit.viz.transport`: TCP states, congestion window, segment ladders.
"""

from labkit.viz.overview import plot_data_path
from labkit.viz.phy import phy_panel, plot_ber, plot_eye, plot_histogram, plot_waveform

__all__ = ["plot_data_path", "phy_panel", "plot_ber", "plot_eye", "plot_histogram", "plot_waveform"]
