"""Plots and widgets for the notebooks, one module per topic (``labkit.viz.hw``...).

Imported only by notebooks and the command line, so the layers stay
importable without a display.
"""
