"""``compare``: generated record sets with known differences, real files, real profiles, the CLI."""

from __future__ import annotations

import argparse
import cProfile
import json
import marshal
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from profiletools import timed
from profiletools.analysis.compare import (
    CompareError,
    Samples,
    _median_draws,
    compare_paths,
    compare_samples,
    function_label,
    median_ratio_interval,
)
from profiletools.cli import compare
from profiletools.reporters import JsonLines


def noisy(rng: random.Random, count: int, scale: float, spikes: float = 0.1) -> list[float]:
    """Timings as a busy CI machine gives them: lognormal jitter plus occasional 1.5-3x interference."""
    values = []
    for _ in range(count):
        value = scale * rng.lognormvariate(0, 0.1)
        if rng.random() < spikes:
            value *= rng.uniform(1.5, 3.0)
        values.append(value)
    return values


def records_side(**values: list[float]) -> Samples:
    return Samples("records", dict(values))


def write_jsonl(path: Path, rows: dict[str, list[float]], **extra: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for name, walls in rows.items():
            for wall in walls:
                out.write(json.dumps({"tool": "timed", "name": name, "wall": wall, "cpu": wall / 2, **extra}) + "\n")


def run_cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    compare.add_arguments(parser)
    return compare.run(parser.parse_args(list(argv))), "", ""


# -- the statistics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [7, 8, 31])
def test_order_statistic_draws_match_brute_force_resampling(n: int) -> None:
    """The Beta shortcut gives the same distribution of resampled medians as resampling n values."""
    draws = sorted((i + j) / 2 for i, j in _median_draws(n, 8000, random.Random(1)))
    rng = random.Random(2)
    brute = sorted(statistics.median(rng.randrange(n) for _ in range(n)) for _ in range(8000))
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert abs(draws[int(q * 8000)] - brute[int(q * 8000)]) <= 1


def test_a_30_percent_slowdown_is_detected_on_noisy_data() -> None:
    covered = 0
    for seed in range(10):
        rng = random.Random(seed)
        result = compare_samples(
            records_side(search=noisy(rng, 30, 1e-3)), records_side(search=noisy(rng, 30, 1.3e-3)),
        )
        (row,) = result.rows
        assert row.verdict == "slower", seed
        assert row.low > 0.10, (seed, row)  # type: ignore[operator]
        covered += row.low < 0.30 < row.high  # type: ignore[operator]
        assert result.regressions(0.10) == [row]
        assert result.regressions(0.60) == []  # not slower by 60 % with confidence
    assert covered >= 8  # the 95 % interval holds the true +30 % (nearly) every time


def test_no_change_on_noisy_data_is_not_flagged() -> None:
    flagged = 0
    for seed in range(30):
        rng = random.Random(100 + seed)
        result = compare_samples(
            records_side(search=noisy(rng, 30, 1e-3)), records_side(search=noisy(rng, 30, 1e-3)),
        )
        (row,) = result.rows
        assert result.regressions(0.10) == [], (seed, row)
        flagged += row.verdict != "unchanged"
        assert row.low is not None and row.high is not None and row.low < row.change < row.high  # type: ignore[operator]
    assert flagged <= 3  # a 95 % interval: about 1 in 20 calls noise a change, here at most 3 in 30


def test_median_ignores_interference_spikes_that_would_move_a_mean() -> None:
    rng = random.Random(7)
    base = noisy(rng, 40, 1e-3, spikes=0.0)
    new = noisy(rng, 40, 1e-3, spikes=0.0)
    new[::5] = [value * 5 for value in new[::5]]  # every 5th call hit by a 5x stall
    result = compare_samples(records_side(q=base), records_side(q=new))
    assert statistics.mean(new) / statistics.mean(base) > 1.5
    assert result.regressions(0.10) == []


def test_faster_is_reported_and_never_fails() -> None:
    rng = random.Random(3)
    result = compare_samples(records_side(q=noisy(rng, 25, 2e-3)), records_side(q=noisy(rng, 25, 1e-3)))
    (row,) = result.rows
    assert row.verdict == "faster" and row.high < 0  # type: ignore[operator]
    assert result.regressions(0.0) == []


def test_too_few_values_get_no_verdict_however_large_the_change() -> None:
    result = compare_samples(records_side(q=[1.0, 1.0, 1.0]), records_side(q=[3.0, 3.0, 3.0]), min_count=5)
    (row,) = result.rows
    assert (row.verdict, row.change, row.low) == ("too few", 2.0, None)
    assert result.regressions(0.1) == []


def test_added_and_removed_names() -> None:
    result = compare_samples(records_side(old=[1.0] * 5, kept=[1.0] * 5), records_side(new=[2.0] * 5, kept=[1.0] * 5))
    rows = {row.name: row for row in result.rows}
    assert rows["old"].verdict == "removed" and rows["old"].base_median == 1.0 and rows["old"].new_median is None
    assert rows["new"].verdict == "added" and rows["new"].new_median == 2.0 and rows["new"].change is None
    assert rows["kept"].verdict == "unchanged" and rows["kept"].change == 0.0


def test_results_repeat_with_the_same_seed() -> None:
    rng = random.Random(11)
    base, new = records_side(a=noisy(rng, 20, 1.0)), records_side(a=noisy(rng, 20, 1.1))
    first, again = compare_samples(base, new, seed=4), compare_samples(base, new, seed=4)
    assert first.rows == again.rows
    assert compare_samples(base, new, seed=5).rows[0].low != first.rows[0].low


def test_interval_and_argument_checks() -> None:
    assert median_ratio_interval([1.0] * 5, [2.0] * 5) == (2.0, 2.0)
    low, high = median_ratio_interval([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0, 10.0])
    assert low < 2.0 < high  # each side is resampled on its own
    with pytest.raises(ValueError, match="confidence"):
        median_ratio_interval([1.0], [1.0], confidence=1.5)
    with pytest.raises(CompareError, match="min_count"):
        compare_samples(records_side(a=[1.0]), records_side(a=[1.0]), min_count=1)
    with pytest.raises(CompareError, match="cannot compare records with prof"):
        compare_samples(records_side(a=[1.0]), Samples("prof", {"a": [1.0]}))


# -- record files and the command line ---------------------------------------------------------------


def test_cli_fails_over_threshold_only_for_a_confident_slowdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(5)
    for run in ("run1.jsonl", "sub/run2.jsonl"):  # a folder of sessions, searched recursively
        write_jsonl(tmp_path / "base" / run, {"search": noisy(rng, 15, 1e-3), "index": noisy(rng, 15, 5e-3)})
    write_jsonl(tmp_path / "new.jsonl", {"search": noisy(rng, 30, 1.3e-3), "index": noisy(rng, 30, 5e-3)})
    status, _, _ = run_cli(str(tmp_path / "base"), str(tmp_path / "new.jsonl"), "--fail-over", "10%")
    out = capsys.readouterr().out
    assert status == 1
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("search", "index"))}
    assert lines["search"].split()[1:3] == ["30", "30"] and lines["search"].rstrip().endswith("slower")
    assert not lines["index"].rstrip().endswith("slower")
    assert "FAIL: slower by more than +10.0% with confidence: search +" in out
    assert run_cli(str(tmp_path / "base"), str(tmp_path / "new.jsonl"), "--fail-over", "60%")[0] == 0
    assert "ok: nothing slower by more than +60.0%" in capsys.readouterr().out
    assert run_cli(str(tmp_path / "base"), str(tmp_path / "new.jsonl"))[0] == 0  # no threshold: report only


def test_cli_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(6)
    write_jsonl(tmp_path / "a.jsonl", {"q": noisy(rng, 20, 1e-3)})
    write_jsonl(tmp_path / "b.jsonl", {"q": noisy(rng, 20, 1.5e-3)})
    status, _, _ = run_cli(str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--json", "--fail-over", "10")
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["failed"] == ["q"] and data["fail_over"] == 0.1
    assert data["method"] == "bootstrap confidence interval of the ratio of medians"
    (row,) = data["rows"]
    assert row["name"] == "q" and row["verdict"] == "slower" and row["base_count"] == row["new_count"] == 20
    assert row["low"] > 0.1 and row["base_p95"] >= row["base_median"]


def test_cpu_field_and_failed_calls_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_jsonl(tmp_path / "a.jsonl", {"q": [1.0] * 6})
    write_jsonl(tmp_path / "b.jsonl", {"q": [1.0] * 6})
    with (tmp_path / "b.jsonl").open("a") as out:  # a failed call, much slower: not a timing of the same work
        out.write(json.dumps({"name": "q", "wall": 50.0, "cpu": 50.0, "error": "KeyError"}) + "\n")
    comparison = compare_paths(str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), figure="cpu")
    (row,) = comparison.rows
    assert (row.new_count, row.base_median, row.new_median) == (6, 0.5, 0.5)


def test_peak_field_from_memprofile_payloads(tmp_path: Path) -> None:
    for side, peak in (("a", 1000), ("b", 4000)):
        with (tmp_path / f"{side}.jsonl").open("w") as out:
            for _ in range(6):
                out.write(json.dumps({"name": "m", "wall": 1.0, "payload": {"peak": peak}}) + "\n")
    comparison = compare_paths(str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), figure="peak")
    assert comparison.rows[0].change == 3.0 and "3.91 KiB" in comparison.table()


def test_records_written_by_jsonlines_reporter(tmp_path: Path) -> None:
    for side in ("base", "new"):
        writer = JsonLines(tmp_path / f"{side}.jsonl")
        work = timed("work", reporters=[writer], cpu=False)(lambda: sum(range(200)))
        for _ in range(8):
            work()
        writer.close()
    comparison = compare_paths(str(tmp_path / "base.jsonl"), str(tmp_path / "new.jsonl"))
    (row,) = comparison.rows
    assert row.name == "work" and row.base_count == row.new_count == 8 and row.verdict in VERDICTS_WITH_TEST


VERDICTS_WITH_TEST = {"slower", "faster", "unchanged"}


def test_unusable_inputs_exit_1_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_jsonl(tmp_path / "ok.jsonl", {"q": [1.0] * 5})
    (tmp_path / "broken.jsonl").write_text('{"name": "q", "wall": 1.0}\n{"name": "q", "wa')
    (tmp_path / "empty").mkdir()
    for other, message in (
        ("missing.jsonl", "no such file"),
        ("broken.jsonl", "broken.jsonl:2: not a JSON line"),
        ("empty", "no record files"),
    ):
        assert run_cli(str(tmp_path / "ok.jsonl"), str(tmp_path / other))[0] == 1
        error = capsys.readouterr().err
        assert error.startswith("profiletools: error: ") and message in error


def test_threshold_and_option_parsing() -> None:
    assert compare.parse_percent(" 12.5 % ") == 0.125
    with pytest.raises(argparse.ArgumentTypeError, match="percentage"):
        compare.parse_percent("ten")
    parser = argparse.ArgumentParser()
    compare.add_arguments(parser)
    args = parser.parse_args(["a", "b", "--confidence", "90%", "--min-count", "3"])
    assert (args.confidence, args.min_count, args.field, args.kind) == (0.9, 3, "wall", "auto")


def test_module_runs_as_a_command(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", {"q": [1.0, 1.1, 0.9, 1.0, 1.05]})
    write_jsonl(tmp_path / "b.jsonl", {"q": [2.0, 2.2, 1.8, 2.0, 2.1]})
    done = subprocess.run(
        [sys.executable, "-m", "profiletools.analysis.compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"),
         "--fail-over", "50%"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "q " in done.stdout and "+100.0%" in done.stdout


# -- profiles ----------------------------------------------------------------------------------------


def helper(n: int) -> int:
    return n * n


def workload(count: int) -> int:
    return sum(helper(i) for i in range(count))


def test_a_real_prof_pair_compares_calls_and_cumulative_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for side, count in (("base", 2000), ("new", 6000)):
        profiler = cProfile.Profile()
        profiler.runcall(workload, count)
        profiler.dump_stats(str(tmp_path / f"{side}.prof"))
    status, _, _ = run_cli(str(tmp_path / "base.prof"), str(tmp_path / "new.prof"), "--fail-over", "1%", "--json")
    data = json.loads(capsys.readouterr().out)
    assert status == 0 and data["kind"] == "prof" and data["failed"] == []  # one sample each: no confident verdict
    rows = {row["name"]: row for row in data["rows"]}
    row = rows["tests/test_compare.py:helper"]
    assert (row["base_calls"], row["new_calls"], row["verdict"]) == (2000, 6000, "too few")
    assert data["counts"]["unit"] == "calls"
    counted = {row["name"]: row for row in data["counts"]["rows"]}
    assert (counted["tests.test_compare:helper"]["base"], counted["tests.test_compare:helper"]["new"]) == (2000, 6000)
    assert run_cli(str(tmp_path / "base.prof"), str(tmp_path / "new.prof"))[0] == 0
    table = capsys.readouterr().out
    assert re.search(r"tests\.test_compare:helper +2000 → 6000 +\+200\.0%", table), table


def write_prof(path: Path, functions: dict[tuple[str, int, str], tuple[int, float]]) -> None:
    """A pstats file in cProfile's own format: {(file, line, name): (primitive, calls, own, cumulative, callers)}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps({key: (calls, calls, cum / 2, cum, {}) for key, (calls, cum) in functions.items()}))


def test_folders_of_profiles_give_samples_per_function(tmp_path: Path) -> None:
    rng = random.Random(9)
    for side, scale, line in (("base", 1.0, 10), ("new", 1.4, 12)):  # the function moved down two lines
        for run in range(8):
            write_prof(tmp_path / side / f"run{run}.prof", {
                ("/ci/checkout/app/search.py", line, "search"): (100, scale * rng.lognormvariate(0, 0.05)),
                ("~", 0, "<built-in method builtins.len>"): (500, 0.01 * rng.lognormvariate(0, 0.05)),
            })
    comparison = compare_paths(str(tmp_path / "base"), str(tmp_path / "new"))
    rows = {row.name: row for row in comparison.rows}
    assert set(rows) == {"app/search.py:search", "<built-in method builtins.len>"}
    assert rows["app/search.py:search"].verdict == "slower" and rows["app/search.py:search"].base_count == 8
    assert rows["<built-in method builtins.len>"].verdict == "unchanged"
    assert [row.name for row in comparison.regressions(0.2)] == ["app/search.py:search"]


def test_mixed_kinds_are_refused(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", {"q": [1.0] * 5})
    write_prof(tmp_path / "b.prof", {("x.py", 1, "f"): (1, 1.0)})
    with pytest.raises(CompareError, match="compare like with like"):
        compare_paths(str(tmp_path / "a.jsonl"), str(tmp_path / "b.prof"))


def test_function_labels_drop_machine_specific_prefixes() -> None:
    assert function_label("/usr/lib/python3/dist-packages/requests/api.py", "get") == "requests/api.py:get"
    assert function_label(r"C:\work\app\views.py", "index") == "app/views.py:index"
