"""Plots and widgets for the notebooks (matplotlib, ipywidgets).

One module per topic; each function returns the matplotlib ``Axes`` (or
``Figure``) it drew on, so a notebook can add to it. The layers never import
this package.

- :mod:`labkit.viz.sim`: network topologies and sequence diagrams of traces.
"""
