"""``profileit(budget_calls=..., budget_total_calls=...)``: exact call budgets, read like time budgets."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from profiletools import memprofile, profileit, reporters, timed
from profiletools.core.counts import by_label, counts_of
from profiletools.core.machinery import make_probe
from profiletools.reporters import Collect
from profiletools.reporters.budget import Budget, BudgetExceeded, BudgetWarning


def lookup(key: str) -> int:
    return len(key)


def handle(keys: list[str]) -> int:
    return sum(lookup(key) for key in keys)


class Store:
    def get(self, key: str) -> int:
        return lookup(key)

    def put(self, key: str) -> None:
        lookup(key)


def budget_warnings(action: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        action()
    return [str(w.message) for w in seen if issubclass(w.category, BudgetWarning)]


def test_at_the_budget_passes_one_call_more_fails_naming_function_count_and_budget(collect: Collect) -> None:
    handled = profileit(budget_calls={"tests.test_call_budgets:lookup": 3}, reporters=[collect])(handle)
    assert handled(["a", "bb", "ccc"]) == 6
    assert handled(["a", "bb", "ccc", "d"]) == 7
    within, over = collect.records
    assert within.over_budget is None
    assert over.over_budget == "tests.test_call_budgets:lookup 4 calls > budget 3"
    assert "[over budget: tests.test_call_budgets:lookup 4 calls > budget 3]" in over.text().splitlines()[0]
    assert json.loads(json.dumps(over.to_dict()))["budget"] == {
        "limit": None, "p95": None, "over": "tests.test_call_budgets:lookup 4 calls > budget 3",
        "calls": {"tests.test_call_budgets:lookup": 3}, "total_calls": None,
    }


def test_total_calls_is_pstats_total(collect: Collect) -> None:
    handled = profileit(budget_total_calls=5, reporters=[collect])(handle)
    handled(["a"])  # handle, sum, <genexpr> x2 (two resumptions), lookup, len: 6
    (record,) = collect.records
    assert record.stats.total_calls == 6
    assert record.over_budget == "total 6 calls > budget 5"
    assert sum(by_label(counts_of(record)).values()) == 6  # type: ignore[arg-type]


def test_bare_qualnames_and_globs_add_up_the_functions_they_match(collect: Collect) -> None:
    store = Store()

    @profileit(budget_calls={"Store.get": 1, "tests.test_call_budgets:Store.*": 2, "len": 9}, reporters=[collect])
    def work() -> None:
        store.get("a")
        store.get("b")
        store.put("c")

    work()
    (record,) = collect.records
    assert record.over_budget == (
        "Store.get 2 calls > budget 1 (tests.test_call_budgets:Store.get 2); "
        "tests.test_call_budgets:Store.* 3 calls > budget 2 "
        "(tests.test_call_budgets:Store.get 2, tests.test_call_budgets:Store.put 1)"
    )


def test_the_budget_reporter_warns_once_and_strict_mode_raises_at_its_checkpoint() -> None:
    budget = Budget()
    handled = profileit(budget_calls={"lookup": 1}, reporters=[budget])(handle)
    messages = budget_warnings(lambda: [handled(["a", "b"]), handled(["a", "b", "c"])])
    assert messages == [
        "profiletools: handle is over its budget (lookup 2 calls > budget 1 (tests.test_call_budgets:lookup 2)); "
        "later calls over budget are counted, not warned about again"
    ]
    (violation,) = budget.violations()
    assert (violation.kind, violation.over, violation.calls) == ("calls", 2, 2)
    assert str(violation) == (
        "handle: 2 of 2 calls over budget (worst: lookup 3 calls > budget 1 (tests.test_call_budgets:lookup 3))"
    )

    strict = Budget(strict=True)
    checked = profileit(budget_calls={"lookup": 1}, budget="60s", reporters=[strict])(handle)
    with pytest.raises(BudgetExceeded) as raised, strict:
        checked(["a", "b"])
    assert [v.kind for v in raised.value.violations] == ["calls"]  # within its time budget


def test_a_pattern_matching_nothing_warns_once_unless_its_budget_is_zero() -> None:
    budget = Budget()
    handled = profileit(budget_calls={"tests.test_call_budgets:lokup": 5, "never:called": 0}, reporters=[budget])(
        handle
    )
    messages = budget_warnings(lambda: [handled(["a"]), handled(["b"])])
    assert len(messages) == 1 and "pattern 'tests.test_call_budgets:lokup' matched no function" in messages[0]
    assert budget.violations() == []


def test_a_block_and_an_aggregate_profile_are_budgeted_too(collect: Collect) -> None:
    with profileit("block", budget_calls={"lookup": 2}, reporters=[collect]):
        handle(["a", "b", "c"])
    aggregated = profileit(aggregate=True, budget_calls={"lookup": 2}, reporters=[collect])(handle)
    aggregated(["a"])
    aggregated(["b"])
    aggregated.flush()  # type: ignore[attr-defined]
    block, aggregate = collect.records
    assert block.over_budget is not None and block.over_budget.startswith("lookup 3 calls > budget 2")
    assert aggregate.over_budget is None  # two calls over the two calls profiled: within


def test_a_nested_profile_makes_no_record_and_the_outer_budget_sees_every_call(collect: Collect) -> None:
    inner = profileit(budget_calls={"lookup": 0}, reporters=[collect])(handle)

    @profileit(budget_calls={"lookup": 1}, reporters=[collect])
    def outer() -> int:
        return inner(["a", "b"])

    outer()
    (record,) = collect.records
    assert record.name.endswith("outer") and record.over_budget.startswith("lookup 2 calls > budget 1")  # type: ignore[union-attr]


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"budget_calls": {"app:query": -1}}, ValueError,
     r"profileit\(\): budget_calls\['app:query'\] takes a whole number of calls \(>= 0\); got -1"),
    ({"budget_calls": {"app:query": True}}, TypeError, r"budget_calls\['app:query'\] takes a whole number"),
    ({"budget_calls": {"app:query": 2.5}}, TypeError, r"budget_calls\['app:query'\] takes a whole number"),
    ({"budget_calls": ["app:query"]}, TypeError, r"profileit\(\): budget_calls= takes a dict of function pattern"),
    ({"budget_calls": {"": 1}}, TypeError, r"profileit\(\): budget_calls: '' names no function"),
    ({"budget_calls": {3: 1}}, TypeError, r"profileit\(\): budget_calls: 3 names no function"),
    ({"budget_total_calls": -5}, ValueError, r"profileit\(\): budget_total_calls= takes a whole number .* got -5"),
    ({"budget_total_calls": "10"}, TypeError, r"profileit\(\): budget_total_calls= takes a whole number"),
])
def test_bad_call_budgets_fail_at_decoration_naming_the_argument(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        profileit(**options)


def test_only_tools_that_count_calls_take_call_budgets() -> None:
    with pytest.raises(ValueError, match=r"timed\(\): budget_calls= limits call counts; only profileit counts calls"):
        make_probe("timed", None, budget_calls={"f": 1})
    with pytest.raises(TypeError):
        timed(budget_calls={"f": 1})  # type: ignore[call-overload]


def test_a_memory_budget_reads_in_the_units_it_was_given(collect: Collect) -> None:
    with memprofile("decimal", budget="10 KB", reporters=[collect]):
        data = bytearray(50_000)
    with memprofile("binary", budget="10 KiB", reporters=[collect]):
        data = bytearray(50_000)
    del data
    decimal, binary = collect.records
    assert decimal.over_budget is not None and decimal.over_budget.startswith("peak 5")
    assert decimal.over_budget.endswith(" KB > budget 10 KB")
    assert binary.over_budget is not None and binary.over_budget.endswith(" KiB > budget 10 KiB")


def test_the_budget_reporter_of_the_docs_example() -> None:
    strict = reporters.Budget(strict=True)
    with strict:
        with profileit("ok", budget_calls={"lookup": 3}, budget_total_calls=100, reporters=[strict]):
            handle(["a", "b", "c"])
    assert strict.violations() == []
