"""Notebook 06's live panel: a request/reply over UDP on a lossy link, loss rate against tries.

UDP does not retransmit; the application does, with a timeout. :func:`retry_run` sends
requests through a simulated link that loses a fraction of the datagrams each way, each
request tried up to ``tries`` times, and :class:`RetryPanel` redraws the outcome as its two
sliders move, next to what probability says: a try succeeds when the request and its reply
both get through, ``(1 - loss)²``, so a request fails only if every try does,
``(1 - (1 - loss)²) ** tries``.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from labkit.errors import LabkitValueError
from labkit.sim import Loss, Network
from labkit.sim.stacks import install_transport, socket
from labkit.transport.sockets import SOCK_DGRAM
from labkit.viz.sim import figure_output

__all__ = ["RetryRun", "retry_run", "draw_retries", "RetryPanel", "answered_probability"]


@dataclass(frozen=True)
class RetryRun:
    """The outcome of :func:`retry_run`: tries used by each request, and which got an answer."""

    loss: float
    tries: int
    used: tuple[int, ...]
    answered: tuple[bool, ...]

    @property
    def retransmissions(self) -> int:
        return sum(self.used) - len(self.used)


def answered_probability(loss: float, tries: int) -> float:
    """The chance that a request is answered within ``tries`` tries, each datagram lost with ``loss``."""
    return 1.0 - (1.0 - (1.0 - loss) ** 2) ** tries


def retry_run(loss: float, tries: int, requests: int = 20, seed: int = 8,
              timeout: float = 0.1) -> RetryRun:
    """Send ``requests`` requests from A to an echo server on B, each tried up to ``tries`` times.

    The link loses ``loss`` of the datagrams in each direction (the first exchange, which
    ARPs, runs on a clean link). A late reply to an earlier try is recognised and skipped.
    """
    if not 0.0 <= loss < 1.0:
        raise LabkitValueError(f"loss={loss!r}: expected a fraction from 0 to below 1")
    if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
        raise LabkitValueError(f"tries={tries!r}: expected a whole number of tries, at least 1")
    net = Network(seed=seed)
    a = net.add_host("A", ip="192.168.1.10/24")
    b = net.add_host("B", ip="192.168.1.20/24")
    net.connect(a, b, delay="2ms", bandwidth="10Mbit")
    install_transport(net)
    echo = socket(b, SOCK_DGRAM)
    echo.bind(("", 7))
    echo.on_datagram(lambda data, sender: echo.sendto(data.upper(), sender))
    client = socket(a, SOCK_DGRAM)
    client.settimeout(timeout)
    server = ("192.168.1.20", 7)
    client.sendto(b"hello", server)  # ARP on a clean link first
    client.recvfrom(100)
    if loss:
        net.impair(a, b, Loss(loss))
        net.impair(b, a, Loss(loss))
    used, answered = [], []
    for i in range(requests):
        data = f"request {i}".encode()
        ok, attempt = False, 0
        while not ok and attempt < tries:
            attempt += 1
            client.sendto(data, server)
            try:
                while True:
                    reply, _ = client.recvfrom(1024)
                    if reply == data.upper():
                        ok = True
                        break
            except TimeoutError:
                pass
        used.append(attempt)
        answered.append(ok)
    return RetryRun(loss, tries, tuple(used), tuple(answered))


def draw_retries(run: RetryRun, *, fig: Figure | None = None) -> Figure:
    """Left: the tries each request took (red: gave up). Right: answered against tries allowed."""
    if fig is None:
        fig = plt.figure(figsize=(11, 3.2))
    bars, curve = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.18, top=0.85, wspace=0.25)
    n = len(run.used)
    bars.bar(range(n), run.used, color=["tab:blue" if ok else "tab:red" for ok in run.answered])
    bars.set_xticks(range(n))
    bars.tick_params(axis="x", labelsize=7)
    bars.set_ylim(0, max(run.tries, 1) + 0.5)
    bars.set_yticks(range(0, run.tries + 1, max(1, (run.tries + 4) // 5)))
    bars.set_xlabel(f"request (red: gave up after {run.tries} {'try' if run.tries == 1 else 'tries'})")
    bars.set_ylabel("tries")
    bars.set_title(f"loss {run.loss:.0%} each way: {sum(run.answered)} of {n} answered, "
                   f"{run.retransmissions} retransmissions", fontsize=10)
    k = np.arange(1, 11)
    curve.plot(k, [answered_probability(run.loss, int(t)) for t in k], "o-", ms=3,
               color="#999999", label="probability: 1 - (1 - (1 - loss)²)^tries")
    curve.plot([run.tries], [sum(run.answered) / n], "o", ms=8, color="tab:red",
               label=f"this run: {sum(run.answered)}/{n}")
    curve.set_xlabel("tries allowed")
    curve.set_ylabel("share of requests answered")
    curve.set_ylim(0, 1.05)
    curve.set_xticks(k)
    curve.legend(fontsize=7, loc="lower right")
    curve.set_title("more tries buy back what loss takes", fontsize=10)
    return fig


class RetryPanel(widgets.VBox):
    """Two sliders, ``loss`` and ``tries``; each change reruns :func:`retry_run` and redraws.

    The drawing goes into the panel's output area directly, so that a saved notebook shows
    the panel as last drawn and a run without a browser sees the same output.
    """

    def __init__(self, loss: float = 0.3, tries: int = 5, requests: int = 20, seed: int = 8) -> None:
        self.requests, self.seed = requests, seed
        self.loss = widgets.FloatSlider(value=loss, min=0.0, max=0.7, step=0.05,
                                        description="loss", readout_format=".0%",
                                        continuous_update=False)
        self.tries = widgets.IntSlider(value=tries, min=1, max=10, description="tries",
                                       continuous_update=False)
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.loss, self.tries]), self.out])
        for control in (self.loss, self.tries):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        self.last = retry_run(round(self.loss.value, 4), self.tries.value, self.requests, self.seed)
        fig = draw_retries(self.last)
        self.out.outputs = (figure_output(fig, f"<{sum(self.last.answered)} of "
                                               f"{self.requests} answered>"),)

    def __repr__(self) -> str:
        return f"RetryPanel(loss={self.loss.value:.2f}, tries={self.tries.value})"
