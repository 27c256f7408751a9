"""Plots and widgets for the notebooks, one module per topic (``labkit.viz.link``...).

Imports anything in labkit; nothing in the protocol layers imports it.
"""
