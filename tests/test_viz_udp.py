"""Notebook 06's live panel: loss rate against tries for a UDP request/reply (labkit.viz.udp)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from labkit.errors import LabkitValueError  # noqa: E402
from labkit.viz.udp import RetryPanel, answered_probability, draw_retries, retry_run  # noqa: E402


def test_a_clean_link_needs_one_try_each():
    run = retry_run(0.0, 3, requests=5)
    assert run.used == (1,) * 5 and all(run.answered) and run.retransmissions == 0


def test_more_tries_answer_more_requests_and_match_the_probability():
    once, many = retry_run(0.4, 1, requests=40), retry_run(0.4, 8, requests=40)
    assert sum(once.answered) < sum(many.answered)
    assert max(once.used) == 1 and max(many.used) <= 8
    # a request given up used every try; an answered one stopped at the try that worked
    assert all(u == 8 for u, ok in zip(many.used, many.answered) if not ok)
    p1, p8 = answered_probability(0.4, 1), answered_probability(0.4, 8)
    assert p1 == pytest.approx(0.36) and p8 == pytest.approx(1 - 0.64**8)
    assert abs(sum(once.answered) / 40 - p1) < 0.25  # 40 requests: a loose, honest bound


def test_panel_redraws_when_either_slider_moves():
    panel = RetryPanel(loss=0.3, tries=5, requests=10)
    assert (panel.loss.description, panel.tries.description) == ("loss", "tries")
    first = panel.out.outputs[0]["data"]["image/png"]
    panel.tries.value = 1
    second = panel.out.outputs[0]["data"]["image/png"]
    assert second != first and panel.last.tries == 1 and max(panel.last.used) == 1
    panel.loss.value = 0.0
    assert panel.out.outputs[0]["data"]["image/png"] != second and all(panel.last.answered)
    assert repr(panel) == "RetryPanel(loss=0.00, tries=1)"
    assert panel.out.outputs[0]["data"]["text/plain"] == "<10 of 10 answered>"


def test_drawing_and_bad_arguments():
    fig = draw_retries(retry_run(0.5, 2, requests=6))
    bars, curve = fig.axes
    assert len(bars.patches) == 6 and "loss 50% each way" in bars.get_title()
    assert len(curve.get_lines()) == 2
    plt.close(fig)
    with pytest.raises(LabkitValueError, match="loss="):
        retry_run(1.0, 2)
    with pytest.raises(LabkitValueError, match="tries="):
        retry_run(0.1, 0)
