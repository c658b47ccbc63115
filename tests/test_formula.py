"""Tests for mixedlm._formula: lme4 bar syntax."""

import re

import pytest

from mixedlm._formula import ParsedFormula, RandomTerm, parse_formula


def _terms(parsed):
    return [(t.lhs, t.group, t.group_vars) for t in parsed.random]


# ---------------------------------------------------------------------------
# Accepted formulas
# ---------------------------------------------------------------------------


def test_correlated_slope():
    p = parse_formula("Reaction ~ 1 + Days + (1 + Days | Subject)")
    assert p == ParsedFormula(
        formula="Reaction ~ 1 + Days + (1 + Days | Subject)",
        response="Reaction",
        fixed="Reaction ~ 1 + Days",
        random=(
            RandomTerm(
                lhs="1 + Days",
                group="Subject",
                group_vars=("Subject",),
                source="(1 + Days | Subject)",
            ),
        ),
    )


def test_implicit_intercept_in_bar():
    # (Days|Subject) is (1 + Days|Subject) in lme4
    p = parse_formula("Reaction ~ Days + (Days|Subject)")
    assert _terms(p) == [("1 + Days", "Subject", ("Subject",))]
    assert p.fixed == "Reaction ~ Days"
    assert p.random[0].source == "(Days|Subject)"


@pytest.mark.parametrize(
    "bar",
    ["(0 + Days|Subject)", "(-1 + Days|Subject)", "(Days - 1|Subject)", "(Days + 0|Subject)"],
)
def test_no_intercept_in_bar(bar):
    p = parse_formula(f"Reaction ~ Days + {bar}")
    assert _terms(p) == [("0 + Days", "Subject", ("Subject",))]
    assert p.random[0].source == bar
    assert p.fixed == "Reaction ~ Days"


def test_double_bar_expands_to_independent_terms():
    p = parse_formula("Reaction ~ Days + (Days||Subject)")
    assert p.random == (
        RandomTerm("1", "Subject", ("Subject",), "(Days||Subject)"),
        RandomTerm("0 + Days", "Subject", ("Subject",), "(Days||Subject)"),
    )
    assert p.fixed == "Reaction ~ Days"


def test_double_bar_variants():
    assert _terms(parse_formula("y ~ (1 + x + z || g)")) == [
        ("1", "g", ("g",)),
        ("0 + x", "g", ("g",)),
        ("0 + z", "g", ("g",)),
    ]
    assert _terms(parse_formula("y ~ (0 + x || g)")) == [("0 + x", "g", ("g",))]
    assert _terms(parse_formula("y ~ (x - 1 || g)")) == [("0 + x", "g", ("g",))]
    assert _terms(parse_formula("y ~ (1 || g)")) == [("1", "g", ("g",))]
    # R's terms(): '*' expands; labels ordered by degree
    assert _terms(parse_formula("y ~ (x*z || g)")) == [
        ("1", "g", ("g",)),
        ("0 + x", "g", ("g",)),
        ("0 + z", "g", ("g",)),
        ("0 + x:z", "g", ("g",)),
    ]
    assert _terms(parse_formula("y ~ (x:z + w || g)")) == [
        ("1", "g", ("g",)),
        ("0 + w", "g", ("g",)),
        ("0 + x:z", "g", ("g",)),
    ]


def test_nested_grouping():
    p = parse_formula("strength ~ 1 + (1|batch/cask)")
    assert p.random == (
        RandomTerm("1", "batch", ("batch",), "(1|batch/cask)"),
        RandomTerm("1", "batch:cask", ("batch", "cask"), "(1|batch/cask)"),
    )
    assert p.fixed == "strength ~ 1"


def test_three_level_nesting_and_interaction_inside_nesting():
    assert _terms(parse_formula("y ~ x + (1|a/b/c)")) == [
        ("1", "a", ("a",)),
        ("1", "a:b", ("a", "b")),
        ("1", "a:b:c", ("a", "b", "c")),
    ]
    # ':' binds tighter than '/' (R precedence): (a:b)/c
    assert _terms(parse_formula("y ~ x + (1|a:b/c)")) == [
        ("1", "a:b", ("a", "b")),
        ("1", "a:b:c", ("a", "b", "c")),
    ]


def test_double_bar_with_nesting_expands_both_ways():
    p = parse_formula("y ~ x + (x||a/b)")
    assert _terms(p) == [
        ("1", "a", ("a",)),
        ("1", "a:b", ("a", "b")),
        ("0 + x", "a", ("a",)),
        ("0 + x", "a:b", ("a", "b")),
    ]
    assert {t.source for t in p.random} == {"(x||a/b)"}


def test_interaction_group_and_whitespace_stripped():
    p = parse_formula("y ~ 1 + service + (1|s) + (1|d) + (1| dept : service )")
    assert p.random[2] == RandomTerm(
        "1", "dept:service", ("dept", "service"), "(1| dept : service )"
    )
    assert p.fixed == "y ~ 1 + service"


def test_fixed_part_keeps_formulaic_syntax():
    p = parse_formula("y ~ 1 + service*dept + (1|s) + (1|d)")
    assert p.fixed == "y ~ 1 + service*dept"
    assert _terms(p) == [("1", "s", ("s",)), ("1", "d", ("d",))]

    p = parse_formula("np.log(y) ~ C(f, Treatment('b')) + x:z + (1|g) + np.log(x) - 1")
    assert p.response == "np.log(y)"
    assert p.fixed == "np.log(y) ~ C(f, Treatment('b')) + x:z + np.log(x) - 1"

    # bars may appear anywhere among the terms
    p = parse_formula("y ~ (1|g) + x + (0 + x|h) + z")
    assert p.fixed == "y ~ x + z"
    assert _terms(p) == [("1", "g", ("g",)), ("0 + x", "h", ("h",))]


def test_nested_parentheses_inside_bar():
    p = parse_formula("y ~ x + (1 + log(x)|g)")
    assert _terms(p) == [("1 + log(x)", "g", ("g",))]
    p = parse_formula("y ~ x + (1 + I((x - 1)**2) | g)")
    assert _terms(p) == [("1 + I((x - 1)**2)", "g", ("g",))]
    # a '|' inside a formulaic {python} block is not a bar
    p = parse_formula("y ~ {x | 2} + (1|g)")
    assert p.fixed == "y ~ {x | 2}"
    # redundant parentheses around a bar term
    assert _terms(parse_formula("y ~ x + ((1|g))")) == [("1", "g", ("g",))]


def test_only_random_terms_gives_intercept_fixed_part():
    assert parse_formula("y ~ (1|g)").fixed == "y ~ 1"
    assert parse_formula("y ~ 0 + (1|g)").fixed == "y ~ 0"
    assert parse_formula("y ~ -1 + (1|g)").fixed == "y ~ 0"
    assert parse_formula("y ~ (1|g) - 1").fixed == "y ~ 0"


def test_whitespace_normalised():
    p = parse_formula("  Reaction~Days +\n   (Days |  Subject)  ")
    assert p.formula == "Reaction~Days + (Days | Subject)"
    assert p.response == "Reaction"
    assert p.fixed == "Reaction ~ Days"
    assert p.random[0].source == "(Days | Subject)"


def test_backtick_group_name():
    p = parse_formula("y ~ (1|`my group`)")
    assert p.random[0].group == "`my group`"
    assert p.random[0].group_vars == ("my group",)


def test_outputs_accepted_by_formulaic():
    formulaic = pytest.importorskip("formulaic")
    for text in [
        "Reaction ~ 1 + Days + (1 + Days | Subject)",
        "Reaction ~ Days + (Days||Subject)",
        "y ~ 0 + (1|g)",
        "y ~ (1|g)",
        "y ~ 1 + service*dept + (1|s) + (1|d)",
        "y ~ (x*z || a/b) + (x - 1 | g)",
        "y ~ -1 + x + (1 + log(x)|g)",
    ]:
        p = parse_formula(text)
        formulaic.Formula(p.fixed)
        for t in p.random:
            formulaic.Formula(t.lhs)
            formulaic.Formula("~ " + t.lhs)


def test_results_are_frozen():
    p = parse_formula("y ~ (1|g)")
    with pytest.raises(AttributeError):
        p.fixed = "y ~ x"
    with pytest.raises(AttributeError):
        p.random[0].group = "h"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 3, ["y ~ (1|g)"]])
def test_not_a_string(bad):
    with pytest.raises(TypeError, match="formula must be a string"):
        parse_formula(bad)


@pytest.mark.parametrize("bad", ["", "   \n"])
def test_empty(bad):
    with pytest.raises(ValueError, match="the formula is empty"):
        parse_formula(bad)


def test_no_tilde_two_tildes_no_response():
    with pytest.raises(ValueError, match=r"formula 'y \+ \(1\|g\)' has no '~'"):
        parse_formula("y + (1|g)")
    with pytest.raises(ValueError, match="has 2 '~'; expected exactly one"):
        parse_formula("y ~ x ~ (1|g)")
    with pytest.raises(ValueError, match=r"formula '~ x \+ \(1\|g\)' has no response"):
        parse_formula("~ x + (1|g)")
    with pytest.raises(ValueError, match="nothing right of '~'"):
        parse_formula("y ~ ")


def test_no_random_term():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "formula 'y ~ x + z' contains no random-effects term such as (1|g); a linear "
            "mixed model needs at least one. For a model without random effects use an "
            "ordinary linear model (e.g. statsmodels.OLS)"
        ),
    ):
        parse_formula("y ~ x + z")


def test_empty_grouping_factor():
    with pytest.raises(ValueError, match=r"term \(1\|\) has an empty grouping factor"):
        parse_formula("y ~ x + (1|)")


def test_empty_left_side():
    with pytest.raises(ValueError, match=r"term \(\|g\) has an empty left side"):
        parse_formula("y ~ x + (|g)")
    with pytest.raises(ValueError, match=r"term \(\|\|g\) has an empty left side before '\|\|'"):
        parse_formula("y ~ x + (||g)")


def test_unbalanced_parentheses_says_where():
    with pytest.raises(ValueError, match=r"'\(' at position 8 is never closed") as info:
        parse_formula("y ~ x + (1|g")
    assert "y ~ x + (1|g" in str(info.value)
    with pytest.raises(ValueError, match=r"'\)' at position 11 has no matching '\('"):
        parse_formula("y ~ x + 1|g)")
    with pytest.raises(ValueError, match=r"closed by '\]' at position 12; expected '\)'"):
        parse_formula("y ~ x + (1|g]")


@pytest.mark.parametrize("group", ["a+b", "factor(g)", "a*b", "a//b", "a:"])
def test_bad_grouping_factor(group):
    with pytest.raises(
        ValueError,
        match=re.escape(f"(1|{group}) has the grouping factor '{group}'; the grouping factor "
                        "must be a variable or an interaction/nesting of variables"),
    ):
        parse_formula(f"y ~ x + (1|{group})")


def test_bar_outside_parentheses():
    with pytest.raises(ValueError, match=r"the term 'x \| g' .* has '\|' outside parentheses"):
        parse_formula("y ~ x | g")
    with pytest.raises(
        ValueError, match=r"the term '1 \| g' .* must be parenthesised, e.g. \(1 \| g\)"
    ):
        parse_formula("y ~ x + 1 | g")
    with pytest.raises(ValueError, match=r"response 'y\|g'"):
        parse_formula("y|g ~ x + (1|g)")


def test_bar_inside_other_expression():
    with pytest.raises(ValueError, match=r"the term 'x\*\(1\|g\)' .* inside a larger expression"):
        parse_formula("y ~ x*(1|g)")
    with pytest.raises(ValueError, match=r"the term 'log\(x\|g\)'"):
        parse_formula("y ~ log(x|g)")


def test_other_bar_errors():
    with pytest.raises(ValueError, match=r"\(1\|g\) is subtracted"):
        parse_formula("y ~ x - (1|g)")
    with pytest.raises(ValueError, match=r"\(1\|g\|h\) has more than one bar"):
        parse_formula("y ~ (1|g|h)")
    with pytest.raises(ValueError, match=r"\(0\|g\) has no columns"):
        parse_formula("y ~ (0|g)")
    with pytest.raises(ValueError, match=r"\(x/z \|\| g\) uses 'x/z' with '\|\|'"):
        parse_formula("y ~ (x/z || g)")
    with pytest.raises(ValueError, match=r"ends with the operator '\+'"):
        parse_formula("y ~ x + (1|g) +")
