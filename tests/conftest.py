"""Shared fixtures: the tiny end-to-end workflow run, once per test session, and its report
(tests/test_workflow_e2e.py and tests/test_report_browser.py both use them, so CI runs the
workflow and builds the report once); a training killed in its second epoch.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("workflow_runner", Path(__file__).with_name("workflow_runner.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

TINY = Path(__file__).with_name("data") / "tiny.yaml"


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A scratch folder in which the whole workflow ran on tests/data/tiny.yaml."""
    workdir = tmp_path_factory.mktemp("run")
    runner.prepare_workdir(workdir, TINY)
    runner.snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def report_html(finished_run) -> Path:
    """The Snakemake report of the tiny run, with the stylesheet the default profile names (the
    tests run without a profile)."""
    import yaml

    profile = yaml.safe_load((runner.ROOT / "profiles" / "default" / "config.yaml").read_text())
    runner.snakemake(finished_run, "--report", "report.html",
                     "--report-stylesheet", str(runner.ROOT / profile["report-stylesheet"]))
    return finished_run / "report.html"


@pytest.fixture
def kill_in_second_epoch(monkeypatch):
    """Call it, and the next training stops with KeyboardInterrupt in its second epoch, its
    first epoch's state saved; monkeypatch.undo() lets trainings run again."""
    from arseg.train import loop

    def install():
        calls, original = {"n": 0}, loop.evaluate_loss

        def killed(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("killed")
            return original(*args, **kwargs)

        monkeypatch.setattr(loop, "evaluate_loss", killed)
    return install
