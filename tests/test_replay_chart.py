"""The replay chart: the legend hides no data, whatever the number of strategies."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg

from planner.generate import GeneratorOptions, generate_cluster
from planner.history.synthetic import synthetic_history
from planner.replay import ReplayOptions, replay
from planner.replaychart import replay_figure


def test_legend_stands_outside_the_plot_areas() -> None:
    c = generate_cluster(GeneratorOptions(hosts=6, vms=120, seed=4, hot_fraction=0.5))
    c = c.replace(history=synthetic_history(c, 96))
    res = replay(c, plan_placement=c.vm_host.copy(), options=ReplayOptions(period_hours=0))
    assert len(res.strategies) >= 8
    fig = replay_figure(res)
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert len(legend.get_texts()) == len(res.strategies)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_ylabel()
