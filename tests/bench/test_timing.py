"""``efa.bench.timing``: alternating timing of several functions."""

from efa.bench.timing import time_alternating, time_calls


def test_functions_are_timed_in_alternation_after_their_warmup():
    calls = []
    timings = time_alternating(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=2, repeats=3
    )
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert set(timings) == {"a", "b"}
    for timing in timings.values():
        assert timing.repeats == 3
        assert 0 <= timing.min_s <= timing.median_s <= timing.max_s


def test_repeats_follow_the_budget_within_their_bounds():
    assert time_calls(lambda: None, budget_s=0.0).repeats == 3
    assert time_calls(lambda: None, budget_s=10.0, max_repeats=7).repeats == 7
