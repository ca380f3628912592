"""The server that a batch's graders fork from gets only the environment grading needs."""

from __future__ import annotations

import os

import pytest

from deepgrade.staff import forkserver


def test_the_graders_server_starts_without_the_staff_s_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANVAS_API_TOKEN", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("DEEPGRADE_ISOLATION", "auto")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    before = dict(os.environ)
    with forkserver._grading_environment():
        inside = dict(os.environ)
    assert "CANVAS_API_TOKEN" not in inside and "AWS_SECRET_ACCESS_KEY" not in inside
    assert inside["DEEPGRADE_ISOLATION"] == "auto" and inside["CUDA_VISIBLE_DEVICES"] == "0"
    assert inside["PATH"] == before["PATH"]
    # This process keeps all of its own.
    assert dict(os.environ) == before
