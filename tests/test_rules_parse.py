"""Rule files: YAML and JSON read the same, and every error names the line and the field."""

from __future__ import annotations

import pytest

from twin.rules.examples import example_rules
from twin.rules.model import parse_duration
from twin.rules.parse import RuleFileError, parse_rules


def problems(text: str, source: str = "r.yaml") -> list[tuple[int | None, str, str]]:
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text, source)
    assert "nothing was applied" in str(caught.value)
    return caught.value.problems


def test_yaml_and_json_give_the_same_rule() -> None:
    yaml_rule = parse_rules("- {name: a, metric: co2, raise: 1000, clear: 800, for: 10m}")
    json_rule = parse_rules(
        '{"rules": [{"name": "a", "metric": "co2", "raise": 1000, "clear": 800, "for": 600}]}'
    )
    assert yaml_rule == json_rule
    (rule,) = yaml_rule
    assert (rule.kind, rule.direction, rule.for_, rule.clear_level) == (
        "threshold",
        "above",
        600,
        800,
    )


def test_errors_name_line_and_field() -> None:
    text = """rules:
  - name: co2
    metric: co2
    raise: lots
    for: ten minutes
    where: {type: co2, colour: red}
    actions:
      - webhook: {url: ftp://example.org}
      - command: {name: "bad name"}
  - name: below
    metric: level
    raise: 1
    clear: 3
    direction: above
"""
    got = problems(text)
    assert got == [
        (4, "rules[0].raise", "Input should be a valid number, unable to parse string as a number"),
        (
            5,
            "rules[0].for",
            "'ten minutes' is not a duration: write seconds or text like 10m, 1h30m",
        ),
        (6, "rules[0].where.colour", got[2][2]),
        (8, "rules[0].actions[0].webhook.url", got[3][2]),
        (9, "rules[0].actions[1].command.name", got[4][2]),
        (
            10,
            "rules[1]",
            "direction above: `clear` (3) must be at or below `raise` (1), or the rule would flap",
        ),
    ]
    assert "unknown field" in got[2][2]
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text, "r.yaml")
    assert "r.yaml line 6, rules[0].where.colour: unknown field" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("- name: a\n  metric: x\n", 1, "[0]", "needs a `raise` level"),
        ("- name: a\n  raise: 3\n", 1, "[0]", "needs a `metric`"),
        ("- name: a\n  all: []\n", 1, "[0]", "at least one condition"),
        ("- name: a\n  all:\n    - {metric: x}\n", 3, "[0].all[0]", "needs a `raise`"),
        ("- name: a\n  metric: x\n  no_data: 5m\n  raise: 1\n", 1, "[0]", "takes no levels"),
        ("- name: a\n  geofence: {area: [3, 1, 2, 4]}\n", 2, "[0].geofence", "west < east"),
        ("- name: a\n  metric: x\n  raise: 1\n  severity: huge\n", 4, "[0].severity", "'info'"),
        ("- name: a\n  metric: x\n  raise: 1\n  message: '{nope}'\n", 1, "[0]", "{device}"),
        (
            "- name: a\n  metric: x\n  raise: 1\n  where: {layer: moon}\n",
            4,
            "[0].where",
            "no layer",
        ),
        (
            "- name: a\n  metric: x\n  raise: 1\n- name: a\n  metric: y\n  raise: 2\n",
            4,
            "[1].name",
            "named twice",
        ),
        ("- name: a\n  metric: x\n  metric: y\n  raise: 1\n", 3, "[0].metric", "given twice"),
        (
            "- name: a\n  metric: x\n  raise: 1\n  actions:\n    - downlink: {network: tts, "
            "application: a}\n",
            5,
            "[0].actions[0].downlink",
            "`hex`",
        ),
        ("rules: 3\n", 1, "rules", "a list of rules"),
        ("- name: a\n  metric: [x\n", 3, "", "not YAML or JSON"),
    ],
)
def test_each_mistake_is_named(text: str, line: int, field: str, words: str) -> None:
    got = problems(text)
    assert len(got) == 1, got
    assert got[0][:2] == (line, field) and words in got[0][2], got


def test_an_on_key_stays_a_key() -> None:
    """YAML 1.1 reads a bare ``on`` as true: the action's ``on`` must stay itself."""
    (rule,) = parse_rules(
        "- name: a\n  metric: x\n  raise: 1\n  actions:\n"
        "    - command: {name: dim}\n      on: resolved\n"
    )
    assert rule.actions[0].on == "resolved"


def test_durations() -> None:
    assert [parse_duration(v) for v in ("10m", "1h30m", "45s", "2d", 90, "1.5m")] == [
        600,
        5400,
        45,
        172800,
        90,
        90,
    ]
    for bad in ("ten", "", "-5m", True, "5 minutes"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_shipped_examples_parse() -> None:
    names = {r.name: r for r in example_rules()}
    assert set(names) == {
        "classroom-co2",
        "disabled-bay-without-badge",
        "flood-yellow",
        "flood-orange",
        "flood-red",
        "flood-gauge-silent",
        "lamp-dim-when-empty",
    }
    co2 = names["classroom-co2"]
    assert (co2.raise_, co2.clear, co2.for_) == (1000, 800, 600)
    levels = [names[f"flood-{c}"] for c in ("yellow", "orange", "red")]
    assert [(r.raise_, r.severity) for r in levels] == [
        (0.8, "warning"),
        (1.2, "major"),
        (1.5, "critical"),
    ]
    assert names["flood-gauge-silent"].no_data == 900
    lamp = names["lamp-dim-when-empty"]
    assert (lamp.direction, lamp.raise_, lamp.for_) == ("below", 0, 300)


def test_hostile_text_is_refused_cleanly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    )
    for text in (bomb, "- a\x00", "- !!python/name:os.system x", "- {a: !!timestamp 2020-13-45}"):
        assert problems(text)[0][2].startswith("not YAML or JSON"), text
    assert "NUL" in problems('- {name: a, metric: x, raise: 1, description: "a\\0b"}')[0][2]
    assert "finite" in problems("- {name: a, metric: x, raise: .nan}")[0][2]
