"""Timeline plots: a readable PNG and a self-contained HTML page, from real simulated runs."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from kafkakit.errors import ConfigError
from lagscale.plots.html import nice_ticks, write_html
from lagscale.plots.png import write_png
from lagscale.simulate.load import parse_load
from lagscale.simulate.settings import simulated_trigger
from lagscale.simulate.simulation import Scenario, run
from lagscale.timeline import Timeline
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Mode


def simulated(mode: Mode = "keda") -> Timeline:
    scenario = Scenario(
        load=parse_load("bursts:2000@400"),
        config=ScalingConfig(simulated_trigger({"lagThreshold": "10"}), mode=mode),
        duration=400,
        label=mode,
    )
    return run(scenario).timeline


def test_png_is_a_real_image_of_reasonable_size(tmp_path: Path) -> None:
    path = write_png([simulated()], tmp_path / "run.png", "a burst")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert (width, height) == (1210, 935)
    assert len(data) > 30_000  # three panels of lines, not an empty canvas


def test_compared_png_draws_every_run(tmp_path: Path) -> None:
    single = write_png([simulated()], tmp_path / "one.png").stat().st_size
    both = write_png([simulated(), simulated("direct")], tmp_path / "two.png").stat().st_size
    assert both != single


def test_html_is_self_contained_with_one_chart_per_panel(tmp_path: Path) -> None:
    page = write_html([simulated(), simulated("direct")], tmp_path / "run.html", "compare").read_text()
    assert page.count('<svg class="panel"') == 3
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<script src" not in page
    assert "keda" in page
    assert "direct" in page
    assert "activated: scale 0 -&gt; 1" in page  # the decision log, with reasons, escaped
    assert "partitions (6)" in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.DOTALL):
        ElementTree.fromstring(svg)  # each chart is well-formed XML


def test_html_escapes_labels(tmp_path: Path) -> None:
    timeline = simulated()
    timeline.label = "<b>x</b>"
    page = write_html([timeline], tmp_path / "run.html").read_text()
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_unwritable_path_is_a_plot_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        write_html([simulated()], blocker / "run.html")
    with pytest.raises(ConfigError, match="is not a directory"):
        write_png([simulated()], blocker / "run.png")


def test_a_missing_directory_is_an_error_not_created(tmp_path: Path) -> None:
    for write in (write_png, write_html):
        with pytest.raises(ConfigError, match="does not exist; create it first"):
            write([simulated()], tmp_path / "missing" / "run.png")
    assert not (tmp_path / "missing").exists()


def test_an_image_is_named_for_its_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--plot: cannot draw .*x.txt'?: name it \*.png"):
        write_png([simulated()], tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()
    assert write_png([simulated()], tmp_path / "x.svg").read_text().lstrip().startswith("<?xml")


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(7, 5) == [0, 2, 4, 6]
    assert nice_ticks(0) == [0.0]
