"""Eight real workloads for ``bench_workloads.py``, each behind a small entry function of a few lines.

The entry functions are what a profiler is wrapped around (the way a user
decorates a request handler or a job step): a handful of lines that call into
large libraries (the standard library and pure-Python packages), so a tool's
cost on the code it calls, not on the entry's own lines, decides its slowdown.
They stay small on purpose: with a loop in the entry function, a per-line tool
(memory_profiler reads RSS on every line) would measure the loop, not the work.

Inputs are built at import (outside any measured call). Each entry returns a
small value derived from the work, so a candidate that skips or changes the
work is caught (:func:`check`). Sizes make a bare call take about 30-150 ms on
a 2-core VM. Needs docutils, jinja2 and pyparsing (the ``dev`` extra).
"""

from __future__ import annotations

import ast
import difflib
import email
import email.policy
import json
import random
import typing
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

# -- inputs (built at import) ------------------------------------------------------------

_rng = random.Random(1234)

with open(typing.__file__, encoding="utf-8") as _f:
    TYPING_SOURCE = _f.read()

JSON_DATA = [
    {
        "id": i,
        "name": f"item-{i}",
        "tags": [f"t{j}" for j in range(i % 7)],
        "price": round(_rng.random() * 100, 2),
        "nested": {"a": i, "b": [i, i * 2, {"c": str(i)}], "ok": i % 2 == 0, "none": None},
    }
    for i in range(5_000)
]

_lines = TYPING_SOURCE.splitlines(keepends=True) * 2
DIFF_A = _lines
DIFF_B = [line.replace("def ", "def  ") if i % 17 == 0 else line for i, line in enumerate(_lines) if i % 23 != 5]


def _make_message(i: int) -> str:
    msg = EmailMessage()
    msg["From"] = f"Sender {i} <sender{i}@example.org>"
    msg["To"] = ", ".join(f"User {j} <user{j}@example.com>" for j in range(3))
    msg["Subject"] = f"Report number {i} with ünïcödé"
    msg["Message-ID"] = f"<{i}.{i * 7}@example.org>"
    msg.set_content("Hello,\n\n" + "This is line %d of the body.\n" * 40 % tuple(range(40)))
    msg.add_alternative(f"<html><body><p>Report {i}</p>" + "<p>para</p>" * 30 + "</body></html>", subtype="html")
    msg.add_attachment(bytes(range(256)) * 8, maintype="application", subtype="octet-stream", filename=f"d{i}.bin")
    return msg.as_string()


EMAILS = [_make_message(i) for i in range(12)]

RST_SOURCE = "\n".join(
    [
        "==========\nBenchmark\n==========\n",
        ".. contents::\n",
    ]
    + [
        f"Section {i}\n{'=' * (8 + len(str(i)))}\n\n"
        f"Some *emphasis* and **strong** text with ``code`` and a link_{i}.\n\n"
        f".. _link_{i}: https://example.org/{i}\n\n"
        "- item one\n- item two\n\n  - nested item\n\n"
        "+-----+-----+\n| a   | b   |\n+=====+=====+\n| 1   | 2   |\n+-----+-----+\n\n"
        ".. code-block:: text\n\n   x = 1\n   y = 2\n\n"
        f"1. first\n2. second\n\n:field: value {i}\n\n"
        for i in range(12)
    ]
)

JINJA_SOURCE = """
<html><head><title>{{ title }}</title></head><body>
<h1>{{ title|upper }}</h1>
{% for user in users %}
  <div class="user {{ loop.cycle('odd', 'even') }}">
    <h2>{{ user.name|e }}</h2>
    {% if user.admin %}<b>admin</b>{% endif %}
    <ul>{% for item in user['items'] %}<li>{{ item.name }}: {{ "%.2f"|format(item.price) }}</li>{% endfor %}</ul>
    {{ macro_box(user.name) }}
  </div>
{% endfor %}
</body></html>
"""
JINJA_CONTEXT = {
    "title": "users",
    "users": [
        {"name": f"user <{i}>", "admin": i % 5 == 0,
         "items": [{"name": f"i{j}", "price": j * 1.5} for j in range(10)]}
        for i in range(600)
    ],
}

PARSE_EXPRESSIONS = [
    " + ".join(f"({_rng.randint(1, 99)} * x{k} - {_rng.randint(1, 9)} / (y{k} + {k}))" for k in range(6))
    for _ in range(40)
]

# -- lazily built library objects (built on first use, outside measured calls via setup()) -----------

_jinja_template: Any = None
_pyparsing_expr: Any = None


def _build_jinja() -> Any:
    import jinja2

    env = jinja2.Environment(autoescape=True)
    env.globals["macro_box"] = env.from_string(
        "{% macro box(name) %}<span class='box'>{{ name }}</span>{% endmacro %}"
    ).module.box
    return env.from_string(JINJA_SOURCE)


def _build_pyparsing() -> Any:
    import pyparsing as pp

    integer = pp.Word(pp.nums).set_parse_action(lambda t: int(t[0]))
    ident = pp.Word(pp.alphas, pp.alphanums + "_")
    operand = integer | ident
    expr = pp.infix_notation(
        operand,
        [
            (pp.one_of("* /"), 2, pp.OpAssoc.LEFT),
            (pp.one_of("+ -"), 2, pp.OpAssoc.LEFT),
        ],
    )
    return expr


def setup() -> None:
    """Import the libraries and build the parsers/templates (outside any measured call)."""
    global _jinja_template, _pyparsing_expr
    import docutils.core  # noqa: F401

    if _jinja_template is None:
        _jinja_template = _build_jinja()
    if _pyparsing_expr is None:
        _pyparsing_expr = _build_pyparsing()


# -- n-body (pure-Python float loop, after the pyperformance benchmark) ---------------------------

PI = 3.14159265358979323
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24


def _bodies() -> list[list[Any]]:
    return [
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS],
        [[4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
         [1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
          -6.90460016972063023e-05 * DAYS_PER_YEAR], 9.54791938424326609e-04 * SOLAR_MASS],
        [[8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
         [-2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
          2.30417297573763929e-05 * DAYS_PER_YEAR], 2.85885980666130812e-04 * SOLAR_MASS],
        [[1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
         [2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
          -2.96589568540237556e-05 * DAYS_PER_YEAR], 4.36624404335156298e-05 * SOLAR_MASS],
        [[1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
         [2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
          -9.51592254519715870e-05 * DAYS_PER_YEAR], 5.15138902046611451e-05 * SOLAR_MASS],
    ]


def _advance(bodies: list[list[Any]], pairs: list[tuple[Any, Any]], dt: float, steps: int) -> None:
    for _ in range(steps):
        for ((r1, v1, m1), (r2, v2, m2)) in pairs:
            dx = r1[0] - r2[0]
            dy = r1[1] - r2[1]
            dz = r1[2] - r2[2]
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m = m1 * mag
            b2m = m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for (r, [vx, vy, vz], _m) in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz


def _energy(bodies: list[list[Any]], pairs: list[tuple[Any, Any]]) -> float:
    e = 0.0
    for ((x1, y1, z1), _v1, m1), ((x2, y2, z2), _v2, m2) in pairs:
        e -= (m1 * m2) / (((x1 - x2) ** 2 + (y1 - y2) ** 2 + (z1 - z2) ** 2) ** 0.5)
    for (_r, [vx, vy, vz], m) in bodies:
        e += m * (vx * vx + vy * vy + vz * vz) / 2.0
    return e


# -- the entry functions (what the tools are wrapped around) -------------------------------------


def run_ast() -> int:
    tree = ast.parse(TYPING_SOURCE)
    text = ast.unparse(tree)
    return len(text)


def run_json() -> int:
    text = json.dumps(JSON_DATA)
    data = json.loads(text)
    return len(data)


def run_difflib() -> int:
    diff = list(difflib.unified_diff(DIFF_A, DIFF_B, "a", "b"))
    ratio = difflib.SequenceMatcher(None, DIFF_A, DIFF_B).ratio()
    return len(diff) + int(ratio * 1000)


def run_email() -> int:
    total = 0
    for raw in EMAILS:
        msg = email.message_from_string(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        total += len(body.get_content()) + len(str(msg["Subject"]))
    return total


def run_docutils() -> int:
    import docutils.core

    html = docutils.core.publish_string(RST_SOURCE, writer_name="html5",
                                        settings_overrides={"report_level": 5, "_disable_config": True})
    return len(html) // 1000


def run_jinja2() -> int:
    html = _jinja_template.render(JINJA_CONTEXT)
    return len(html)


def run_pyparsing() -> int:
    results = [_pyparsing_expr.parse_string(text, parse_all=True) for text in PARSE_EXPRESSIONS]
    return sum(len(r.as_list()) for r in results)


def run_nbody() -> int:
    bodies = _bodies()
    pairs = [(bodies[i], bodies[j]) for i in range(len(bodies)) for j in range(i + 1, len(bodies))]
    _advance(bodies, pairs, 0.01, 6000)
    return int(_energy(bodies, pairs) * 1e6)


WORKLOADS: dict[str, Callable[[], int]] = {
    "ast": run_ast,
    "json": run_json,
    "difflib": run_difflib,
    "email": run_email,
    "docutils": run_docutils,
    "jinja2": run_jinja2,
    "pyparsing": run_pyparsing,
    "nbody": run_nbody,
}


def check() -> dict[str, int]:
    """Run each entry twice and check it returns the same value (deterministic work)."""
    setup()
    out = {}
    for name, func in WORKLOADS.items():
        first, second = func(), func()
        assert first == second, (name, first, second)
        out[name] = first
    return out


if __name__ == "__main__":
    import time

    setup()
    for name, func in WORKLOADS.items():
        func()
        started = time.perf_counter()
        value = func()
        print(f"{name:10} {1e3 * (time.perf_counter() - started):8.1f} ms  -> {value}")
