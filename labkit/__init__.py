"""labkit: the protocol package behind the networking course.

One subpackage per layer, each importing only the layers below it::

    phy  <-  link  <-  net  <-  transport  <-  app

plus ``viz`` (plots and widgets, for notebooks), ``exercises`` (the check
cells) and ``cli`` (the ``labkit`` command).
"""

from labkit.errors import LabkitError, LabkitValueError, ParseError

__version__ = "0.1.0"

__all__ = ["LabkitError", "LabkitValueError", "ParseError", "__version__"]
