"""Chapter 5's pixel predictor gets at least the landmark route's training budget on the cpu profile (issue 23)."""

from __future__ import annotations

import pytest

from benchmarks.bench_budgets import budget_rows, route_flops


def test_the_cpu_pixel_predictor_trains_with_at_least_the_landmark_routes_flops():
    rows = budget_rows("cpu")
    assert [r[0] for r in rows] == ["pusher", "walker"]
    for dataset, factorization, scene, lstm, route, pixel, ratio, steps, parity in rows:
        assert route == pytest.approx(factorization + scene + lstm) and factorization > 5 * lstm > 0
        assert 0 < scene < factorization  # the scene decoder trains on frozen landmarks: no pose-encoder backward
        assert ratio == pytest.approx(pixel / route)
        assert ratio >= 1.0, f"{dataset}: the pixel predictor trains {ratio:.2f} of the landmark route's FLOPs"
        assert steps >= parity  # the steps that would match the route, rounded up


def test_flops_scale_with_the_profiles_steps_and_batch():
    walker = route_flops("cpu", "walker")
    smoke = route_flops("smoke", "walker")
    assert walker["steps"]["pixel"] > smoke["steps"]["pixel"]
    assert walker["pixel"] == walker["pixel_per_step"] * walker["steps"]["pixel"]
