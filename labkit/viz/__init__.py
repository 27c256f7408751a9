"""Plots and widgets for the notebooks (matplotlib and ipywidgets).

Only notebooks and the CLI import this package; the protocol layers never do,
so they stay importable on a machine without a display. Every plotting
function takes an optional ``ax`` and returns the matplotlib object it drew on.
"""

from labkit.viz.overview import plot_data_path
from labkit.viz.phy import phy_panel, plot_ber, plot_eye, plot_histogram, plot_waveform

__all__ = ["plot_data_path", "phy_panel", "plot_ber", "plot_eye", "plot_histogram", "plot_waveform"]
