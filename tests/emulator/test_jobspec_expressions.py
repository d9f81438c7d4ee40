"""HCL2 expressions in jobspecs: operators, templates, references and jobspec2's functions.

Values are read back through a driver ``config`` (which keeps the value's type, as Nomad's JSON
does) or a ``meta`` entry (always a string). Expected values follow hclsyntax and go-cty.
"""

from __future__ import annotations

import pytest

from airflow_provider_nomad.testing.nomad.jobspec import JobspecError, parse_jobspec


def config_value(expr: str, prelude: str = "") -> object:
    """The value of ``expr`` as a driver config argument (line 6 of the jobspec)."""
    spec = (
        f'{prelude}job "j" {{\n  group "g" {{\n    task "t" {{\n      driver = "docker"\n'
        f"      config {{\n        v = {expr}\n      }}\n    }}\n  }}\n}}\n"
    )
    return parse_jobspec(spec)["TaskGroups"][0]["Tasks"][0]["Config"]["v"]


def meta_value(expr: str) -> str:
    """The value of ``expr`` as a job meta entry (line 3 of the jobspec)."""
    return parse_jobspec(f'job "j" {{\n  meta {{\n    v = {expr}\n  }}\n}}\n')["Meta"]["v"]


def meta_error(expr: str) -> str:
    with pytest.raises(JobspecError) as excinfo:
        meta_value(expr)
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ('"5" + 1', 6),  # operands convert to numbers
        ("10 / 4", 2.5),
        ("10 / 5", 2),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # the remainder keeps the dividend's sign
        ("-(2)", -2),
        ("3 >= 3", True),
        ('1 == "1"', False),  # values of different types are never equal
        ('[1, "a"] == [1, "a"]', True),
        ("!true || false", False),
        ('"true" && true', True),
        ('2 > 1 ? "big" : "small"', "big"),
        ('false ? 1 : "one"', "one"),
        ('true ? 1 : "one"', "1"),  # the result types unify to string
    ],
)
def test_operators_and_conditionals(expr, value):
    result = config_value(expr)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ('[for s in ["a", "b"] : upper(s)]', ["A", "B"]),
        ('[for i, s in ["a", "b"] : "${i}:${s}" if s != "a"]', ["1:b"]),
        ("{for k, v in {b = 2, a = 1} : v => k}", {"1": "a", "2": "b"}),
        ('{for s in ["x", "y", "x"] : s => s...}', {"x": ["x", "x"], "y": ["y"]}),
        ("[{n = 1}, {n = 2}][*].n", [1, 2]),
        ("[{n = 1}, {n = 2}].*.n", [1, 2]),
        ('{a = {b = ["c"]}}.a.b[0]', "c"),
        ('{"a.b" = 1}["a.b"]', 1),
        ("[10, 20].1", 20),  # the legacy index form
        ('{ (upper("k")) = 1 }', [{"K": 1}]),  # an object literal in a config is listed
    ],
)
def test_collections_for_expressions_and_splats(expr, value):
    assert config_value(expr) == value


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        # References Nomad cannot resolve stay as text, for the client to interpolate.
        ('"${NOMAD_ALLOC_DIR}/data"', "${NOMAD_ALLOC_DIR}/data"),
        ("attr.unique.hostname", "${attr.unique.hostname}"),
        ('env["HOME"]', '${env["HOME"]}'),
        ('"${meta.rack[0]}"', "${meta.rack[0]}"),
        ('"${  node.class  }"', "${  node.class  }"),
        ("lower(NOMAD_META_Day)", "${nomad_meta_day}"),
        ('"$${literal}"', "${literal}"),
        ('"%{ for n in [1, 2] }<${n}>%{ endfor }"', "<1><2>"),
        ('"a %{~ if true ~} b %{~ else ~} c %{~ endif ~} d"', "abd"),
        ('"a ${~ "x" ~} b"', "axb"),
        ('"${1.5}|${true}|${10 / 5}"', "1.5|true|2"),
    ],
)
def test_templates_and_runtime_references(expr, value):
    assert config_value(expr) == value


def test_heredoc_templates_interpolate_and_strip_indentation():
    expr = (
        "<<-EOT\n"
        '          name=${upper("x")}\n'
        "            indented=${NOMAD_TASK_NAME}\n"
        "          %{ for k, v in {a = 1, b = 2} ~}\n"
        "          ${k}=${v}\n"
        "          %{ endfor ~}\n"
        '          {{ env "NOMAD_META_day" }}\n'
        "        EOT"
    )
    assert config_value(expr) == (
        'name=X\n  indented=${NOMAD_TASK_NAME}\na=1\nb=2\n{{ env "NOMAD_META_day" }}\n'
    )


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ('format("%s-%05d-%.2f-%t-%v", "a", 42, 3.14159, true, [1])', "a-00042-3.14-true-[1]"),
        ('format("%[2]s %[1]s", "a", "b")', "b a"),
        ('formatlist("%s=%s", ["a", "b"], "x")', ["a=x", "b=x"]),
        ('lower("ABC")', "abc"),
        ('upper("abc")', "ABC"),
        ('title("hello world")', "Hello World"),
        ('join("/", ["a", "b"], ["c"])', "a/b/c"),
        ('split(",", "a,,b")', ["a", "", "b"]),
        ('replace("a-b-c", "-", "_")', "a_b_c"),
        ('replace("trade-2026", "/[0-9]+/", "N")', "trade-N"),
        ('regex_replace("a1b22", "[0-9]+", "#")', "a#b#"),
        ('trimspace("  x\\n")', "x"),
        ('trim("--x--", "-")', "x"),
        ('trimprefix("nomad-x", "nomad-")', "x"),
        ('trimsuffix("x.json", ".json")', "x"),
        ('chomp("x\\n\\n")', "x"),
        ('indent(2, "a\\nb")', "a\n  b"),
        ('substr("settlement", 0, 6)', "settle"),
        ('strlen("héllo")', 5),
        ('strrev("abc")', "cba"),
        ('concat(["a"], ["b", "c"])', ["a", "b", "c"]),
        ('contains(["uat", "prod"], "prod")', True),
        ("merge({a = 1, b = 1}, {b = 2}, null)", {"a": 1, "b": 2}),
        ('lookup({a = "x"}, "b", "default")', "default"),
        ('coalesce(null, "", "x")', ""),  # go-cty's coalesce skips nulls only
        ('coalescelist([], ["a"])', ["a"]),
        ('compact(["a", "", "b"])', ["a", "b"]),
        ('distinct(["a", "b", "a"])', ["a", "b"]),
        ('element(["a", "b"], 3)', "b"),
        ("flatten([[1], [2, [3]]])", [1, 2, 3]),
        ('index(["a", "b"], "b")', 1),
        ("keys({b = 1, a = 2})", ["a", "b"]),
        ("values({b = 1, a = 2})", [2, 1]),
        ("length([1, 2, 3])", 3),
        ('length("abc")', 3),
        ("range(1, 7, 2)", [1, 3, 5]),
        ("reverse([1, 2])", [2, 1]),
        ("slice([1, 2, 3, 4], 1, 3)", [2, 3]),
        ('sort(["b", "a"])', ["a", "b"]),
        ('setunion(["b"], ["a", "b"])', ["a", "b"]),
        ('zipmap(["a", "b"], [1, 2])', {"a": 1, "b": 2}),
        ('chunklist(["a", "b", "c"], 2)', [["a", "b"], ["c"]]),
        ("max(3, 7, 5)", 7),
        ("min([4, 2]...)", 2),
        ("abs(-3)", 3),
        ("ceil(1.2)", 2),
        ("floor(1.8)", 1),
        ("pow(2, 10)", 1024),
        ("signum(-4)", -1),
        ('parseint("ff", 16)', 255),
        ('jsonencode({b = [true, null], a = "x<y"})', '{"a":"x\\u003cy","b":[true,null]}'),
        ('jsondecode("{\\"a\\": [1, 2.5]}")', {"a": [1, 2.5]}),
        ('yamldecode("a: [1, two]")', {"a": [1, "two"]}),
        ('csvdecode("a,b\\n1,2\\n")', [{"a": "1", "b": "2"}]),
        ('base64encode("settle")', "c2V0dGxl"),
        ('base64decode("c2V0dGxl")', "settle"),
        ('urlencode("a b&c")', "a+b%26c"),
        ('sha256("x")', "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"),
        ('md5("x")', "9dd4e461268c8034f5c8564e155c67a6"),
        ('uuidv5("dns", "example.com")', "cfbff0d1-9375-5685-968c-48ce8b15ae17"),
        ('formatdate("YYYY-MM-DD hh:mm ZZZ", "2026-05-04T18:30:00Z")', "2026-05-04 18:30 UTC"),
        ('formatdate("EEE, DD MMM YYYY", "2026-05-04T00:00:00+01:00")', "Mon, 04 May 2026"),
        ('timeadd("2026-05-04T23:30:00Z", "90m")', "2026-05-05T01:00:00Z"),
        ('cidrhost("10.1.0.0/16", 5)', "10.1.0.5"),
        ('cidrsubnet("10.1.0.0/16", 8, 2)', "10.1.2.0/24"),
        ('cidrnetmask("10.1.0.0/16")', "255.255.0.0"),
        ('try(local.missing, "fallback")', "fallback"),
        ("can(local.missing)", False),
        ('convert("5", number)', 5),
    ],
)
def test_functions(expr, value):
    assert config_value(expr, prelude="locals {\n}\n") == value


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            'uper("x")',
            'input.hcl:3,9-13: Call to unknown function; There is no function named "uper". '
            'Did you mean "upper"?',
        ),
        (
            "upper()",
            'input.hcl:3,15-16: Not enough function arguments; Function "upper" expects 1 '
            'argument(s). Missing value for "str".',
        ),
        (
            'upper("a", "b")',
            'input.hcl:3,21-22: Too many function arguments; Function "upper" expects only 1 '
            "argument(s).",
        ),
        (
            "upper([1])",
            'input.hcl:3,15-16: Invalid function argument; Invalid value for "str" parameter: '
            "string required.",
        ),
        (
            'format("%d", "x")',
            'input.hcl:3,9-16: Error in function call; Call to function "format" failed: '
            'unsupported value for "%d" at 0: a number is required.',
        ),
        (
            'file("run.sh")',
            'input.hcl:3,9-14: Error in function call; Call to function "file" failed: '
            "filesystem function disabled.",
        ),
        (
            '1 + "x"',
            "input.hcl:3,13-16: Invalid operand; Unsuitable value for right operand: a number is "
            "required.",
        ),
        (
            "[1, 2][5]",
            "input.hcl:3,15-18: Invalid index; The given key does not identify an element in this "
            "collection value: the given index is greater than or equal to the length of the "
            "collection.",
        ),
        (
            "{a = 1}.b",
            "input.hcl:3,16-18: Unsupported attribute; This object does not have an attribute "
            'named "b".',
        ),
        (
            '"x${[1]}"',
            "input.hcl:3,13-16: Invalid template interpolation value; Cannot include the given "
            "value in a string template: string required.",
        ),
        (
            '"${[1]}"',  # "${...}" alone is the value itself, here a list for a string field
            "input.hcl:3,9-17: Unsuitable value type; Unsuitable value: string required",
        ),
        (
            "null",
            "input.hcl:3,9-13: Unsuitable value type; Unsuitable value: null value is not allowed",
        ),
        (
            "try(local.a, local.b)",
            'input.hcl:3,9-13: Error in function call; Call to function "try" failed: no '
            "expression succeeded:\n- Unsupported attribute (at input.hcl:3,18-20)\n  This object "
            'does not have an attribute named "a".\n- Unsupported attribute (at '
            'input.hcl:3,27-29)\n  This object does not have an attribute named "b".\n\nAt least '
            "one expression must produce a successful result.",
        ),
    ],
)
def test_expression_errors_read_like_hcl(expr, message):
    assert meta_error(expr) == message
