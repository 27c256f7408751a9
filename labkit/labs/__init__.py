"""The labs' graders: the learner's receiver, switch, router and servers, run and judged.

One module per lab (:mod:`~labkit.labs.receiver`, :mod:`~labkit.labs.switch`,
:mod:`~labkit.labs.router`, :mod:`~labkit.labs.app`), each a set of
``check_*`` functions that a notebook's test cells call with the learner's
component; :mod:`~labkit.labs.grading` holds what they share (labkit's own
implementation out of reach, time and memory limits, the step log), and
:mod:`~labkit.labs.pipeline` the nbgrader course folder and the class summary.
The notebooks are ``course/labs/L*.ipynb``; see docs/teachers.md.
"""

from labkit.labs.grading import OutOfReach, TimeLimitExceeded, inside, limits, sealed

__all__ = ["OutOfReach", "TimeLimitExceeded", "inside", "limits", "sealed"]
