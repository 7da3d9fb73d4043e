"""Routing rules: ``condition -> tier or model``, checked in order.

A rule is a table (TOML ``[[router.rules]]``) or dict with:

* ``condition`` - an expression in the small language below, or
  ``"fallback"`` (always true; must be the last rule);
* exactly one target: ``tier`` (``free``/``cheap``/``mid``/``premium``) or
  ``model`` (a model id, alias or id suffix); ``provider`` (the design
  brief's key) is accepted as a synonym of ``model`` and also matches a
  provider name (``"deepseek"`` matches ``deepseek/deepseek-chat``);
* ``reason`` - text shown by ``az route explain`` and logged;
* ``name`` (optional) - a label; default ``rule <n>``;
* ``within`` (optional, tier targets only) - a number in [0, 1]: start at
  the rule's tier, but pass over every tier whose models are expected to
  succeed on this complexity class more than ``within`` below the best
  eligible model (success rates as fractions, so 0.05 is 5 points). With
  ``tier = "free"`` it reads "the cheapest model that does nearly as well
  as the best one".

Condition language (parsed with :func:`ast.parse` and a whitelist of node
types, then compiled to closures: nothing is ever ``eval``'d)::

    tokens < 500 and complexity == 'code'
    priority in ('high', 'urgent') or turn >= max_turns - 1
    not tools and complexity != 'long'

Names: ``tokens`` (estimated prompt tokens of the call), ``complexity``
(``simple``/``code``/``reasoning``/``long``), ``priority``
(``low``/``medium``/``high``/``urgent``), ``tools`` (bool: tools offered),
``capabilities`` (set of required capabilities, e.g. ``'tools' in
capabilities``), ``turn``, ``max_turns``, ``escalate`` (bool),
``failed`` (number of models that failed earlier in the task).
Operators: ``and or not``, ``== != < <= > >=``, ``in`` / ``not in``,
``+ -``, parentheses. Literals: numbers, quoted strings, ``true``/``false``
(or ``True``/``False``), tuples/lists of literals.

:func:`parse_rules` checks everything up front and raises
:class:`RuleError` naming the offending rule and the reason.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from az_os.errors import ConfigError
from az_os.util import PRIORITIES

from az_router.complexity import CLASSES
from az_router.tiers import TIERS

#: Names a condition may use, and their Python types (for checks).
NAMES: dict[str, type | tuple[type, ...]] = {
    "tokens": int,
    "complexity": str,
    "priority": str,
    "tools": bool,
    "capabilities": frozenset,
    "turn": int,
    "max_turns": int,
    "escalate": bool,
    "failed": int,
}
_ENUMS = {"complexity": CLASSES, "priority": PRIORITIES}
_RULE_KEYS = {"name", "condition", "tier", "model", "provider", "reason", "within"}

_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub}

Env = dict[str, Any]
Pred = Callable[[Env], Any]


class RuleError(ConfigError, ValueError):
    """A rule is invalid; the message names the rule and the reason.

    A :class:`~az_os.errors.ConfigError`, so the CLI prints it on one line
    and exits with status 2."""


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in ("true", "false", "True", "False"):
        return node.id in ("true", "True")
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return frozenset(_literal(e) for e in node.elts)
    raise RuleError("")


def _compile(node: ast.AST) -> Pred:
    """Closure for a whitelisted expression node; RuleError otherwise."""
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: all(p(env) for p in parts)
        return lambda env: any(p(env) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _compile(node.operand)
        return lambda env: not inner(env)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _compile(node.operand)
        return lambda env: -inner(env)
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        fn = _BIN[type(node.op)]
        left, right = _compile(node.left), _compile(node.right)
        return lambda env: fn(left(env), right(env))
    if isinstance(node, ast.Compare):
        _check_enum(node)
        terms = [_compile(node.left), *(_compile(c) for c in node.comparators)]
        ops = []
        for op in node.ops:
            if type(op) not in _CMP:
                raise RuleError(f"operator '{type(op).__name__}' is not allowed")
            ops.append(_CMP[type(op)])

        def compare(env: Env) -> bool:
            left = terms[0](env)
            for fn, term in zip(ops, terms[1:], strict=True):
                right = term(env)
                if not fn(left, right):
                    return False
                left = right
            return True

        return compare
    if isinstance(node, ast.Name):
        if node.id in NAMES:
            name = node.id
            return lambda env: env[name]
        if node.id in ("true", "false", "True", "False"):
            value = node.id in ("true", "True")
            return lambda env: value
        raise RuleError(f"unknown name '{node.id}' (known: {', '.join(NAMES)})")
    try:
        value = _literal(node)
    except RuleError:
        raise RuleError(f"'{ast.unparse(node)}' is not allowed in a condition") from None
    return lambda env: value


def _check_enum(node: ast.Compare) -> None:
    """Reject comparisons of complexity/priority with unknown values ('cod')."""
    names = [n.id for n in [node.left, *node.comparators] if isinstance(n, ast.Name)]
    for name in names:
        if name not in _ENUMS:
            continue
        for other in [node.left, *node.comparators]:
            if isinstance(other, ast.Name):
                continue
            try:
                lit = _literal(other)
            except RuleError:
                continue
            values = lit if isinstance(lit, frozenset) else {lit}
            for v in values:
                if v not in _ENUMS[name]:
                    raise RuleError(
                        f"unknown {name} {v!r} (expected one of {', '.join(_ENUMS[name])})"
                    )


def compile_condition(text: str) -> Pred:
    """Compile a condition string into ``predicate(env) -> bool``.

    Raises :class:`RuleError` (reason only) for a syntax error, an unknown
    name or value, or a construct outside the language (calls, attributes,
    subscripts ...).
    """
    text = text.strip()
    if text.lower() in ("fallback", "always", "true"):
        return lambda env: True
    if not text:
        raise RuleError("empty condition")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"syntax error at column {exc.offset or 0}: {exc.msg}") from None
    return _compile(tree.body)


@dataclass(slots=True)
class Rule:
    """One compiled rule. ``target_kind`` is ``"tier"`` or ``"model"``."""

    name: str
    condition: str
    target_kind: str
    target: str
    reason: str
    predicate: Pred
    fallback: bool = False
    within: float | None = None

    def matches(self, env: Env) -> bool:
        return bool(self.predicate(env))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "condition": self.condition,
            self.target_kind: self.target,
            "reason": self.reason,
        }
        if self.within is not None:
            out["within"] = self.within
        return out


#: The design brief's rules ("Routing Rules" in az-os-api-design.md),
#: adapted from named providers to price tiers, with the cascade doing the
#: rest (every rule's tier is only where a task *starts*; a noticed failure
#: moves it up a tier):
#:
#: * ``urgent`` (ours; the brief has no priority rule): an urgent task
#:   should succeed at its first attempt, without a cascade through models
#:   likely to fail, but urgency does not make a task harder: "rename
#:   notes.txt" needs no premium model. So it starts at the cheapest tier
#:   whose models are expected to succeed on its class within 5 points of
#:   the best eligible model (``within = 0.05``); with the default priors
#:   that is a cheap or free-plan model for simple tasks and reasoning,
#:   mid for code and long tasks, and premium only when nothing else is
#:   close. (It sent every urgent task to premium before: on the routing
#:   benchmark 2% of the tasks then cost 40% of az's spend.)
#: * brief ``tokens < 500 -> deepseek`` ("free model for simple tasks"):
#:   simple tasks with a prompt under 4000 tokens start at the free tier
#:   (the agent's system prompt and tool schemas alone are ~1000 tokens, so
#:   the brief's 500 would never match);
#: * brief ``complexity == 'code' and tokens < 2000 -> gemini`` ("fast code
#:   generation"), with the brief's Gemini on its free plan: code starts at
#:   the free tier, and the capability skip (engine step 5) moves it to the
#:   cheapest tier whose model is expected to succeed on code - a free-plan
#:   hosted model when one is configured, not the embedded 135M model;
#: * brief ``complexity == 'reasoning' and tokens < 1000 -> claude`` ("best
#:   reasoning"): premium, but only for high-priority tasks: on current
#:   public figures the cheap tier's GPQA-Diamond (79.9, DeepSeek-V3.2-Exp)
#:   is within 4 points of premium's (83.4, Claude Sonnet 4.5) at about a
#:   tenth of the price (benchmarks/data/routing_workload.md);
#: * brief ``tokens >= 2000 -> gpt4`` ("high quality for long tasks"):
#:   gpt-4-class prices are mid today; high-priority long tasks start there,
#:   others at the cheapest capable tier;
#: * brief ``fallback -> deepseek`` ("free model"): the cheapest tier with a
#:   capable model.
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "urgent",
        "condition": "priority == 'urgent'",
        "tier": "free",
        "within": 0.05,
        "reason": "Urgent tasks start on the cheapest model expected to do within 5 points "
        "of the best",
    },
    {
        "name": "simple",
        "condition": "complexity == 'simple' and tokens < 4000",
        "tier": "free",
        "reason": "Free model for simple tasks",
    },
    {
        "name": "code",
        "condition": "complexity == 'code'",
        "tier": "free",
        "reason": "Code on the cheapest tier with a capable model (a free-plan hosted "
        "model if there is one)",
    },
    {
        "name": "reasoning",
        "condition": "complexity == 'reasoning' and priority == 'high' and tokens < 4000",
        "tier": "premium",
        "reason": "Best reasoning capabilities for high-priority questions",
    },
    {
        "name": "long",
        "condition": "(complexity == 'long' or tokens >= 16000) and priority == 'high'",
        "tier": "mid",
        "reason": "High quality for long high-priority tasks",
    },
    {
        "name": "fallback",
        "condition": "fallback",
        "tier": "free",
        "reason": "Always have fallback: the cheapest tier with a capable model",
    },
]

#: Appended when a rule list has no ``fallback`` rule.
IMPLICIT_FALLBACK: dict[str, Any] = {
    "name": "implicit-fallback",
    "condition": "fallback",
    "tier": "free",
    "reason": "No rule matched: cheapest capable tier",
}


def _describe(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and raw.get("name"):
        return f"rule {index} ('{raw['name']}')"
    return f"rule {index}"


def parse_rule(raw: Any, index: int) -> Rule:
    """Check and compile one rule (``index`` counts from 1, for messages).

    Raises :class:`RuleError`: ``rule 3 ('code'): <reason>: {the rule}``.
    """
    where = _describe(raw, index)
    try:
        if not isinstance(raw, dict):
            raise RuleError(
                f"expected a table with condition/tier/reason, got {type(raw).__name__}"
            )
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise RuleError(
                f"unknown key(s) {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(sorted(_RULE_KEYS))})"
            )
        cond = raw.get("condition")
        if not isinstance(cond, str):
            raise RuleError("'condition' is missing or not a string")
        targets = [k for k in ("tier", "model", "provider") if raw.get(k) is not None]
        if len(targets) != 1:
            raise RuleError("give exactly one of 'tier', 'model' or 'provider'")
        kind = targets[0]
        target = raw[kind]
        if not isinstance(target, str) or not target.strip():
            raise RuleError(f"'{kind}' must be a non-empty string")
        if kind == "tier" and target not in TIERS:
            raise RuleError(f"unknown tier '{target}' (expected one of {', '.join(TIERS)})")
        reason = raw.get("reason", "")
        if not isinstance(reason, str):
            raise RuleError("'reason' must be a string")
        name = raw.get("name") or f"rule {index}"
        if not isinstance(name, str):
            raise RuleError("'name' must be a string")
        within = raw.get("within")
        if within is not None:
            if kind != "tier":
                raise RuleError("'within' needs a 'tier' target (a model target is one model)")
            if isinstance(within, bool) or not isinstance(within, int | float):
                raise RuleError("'within' must be a number in [0, 1] (0.05 = 5 points)")
            if not 0 <= within <= 1:
                raise RuleError(f"'within' must be in [0, 1] (0.05 = 5 points), got {within}")
        predicate = compile_condition(cond)
        _smoke(predicate)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}: {raw!r}") from None
    return Rule(
        name=name,
        condition=cond,
        target_kind="tier" if kind == "tier" else "model",
        target=target.strip(),
        reason=reason or f"{kind} {target}",
        predicate=predicate,
        fallback=cond.strip().lower() in ("fallback", "always", "true"),
        within=float(within) if within is not None else None,
    )


_SAMPLE_ENVS: list[Env] = [
    {
        "tokens": t,
        "complexity": c,
        "priority": "medium",
        "tools": True,
        "capabilities": frozenset({"tools"}),
        "turn": 1,
        "max_turns": 5,
        "escalate": False,
        "failed": 0,
    }
    for t in (10, 100000)
    for c in CLASSES
]


def _smoke(predicate: Pred) -> None:
    """Evaluate on sample inputs so type errors ('tokens < "x"') fail at load."""
    for env in _SAMPLE_ENVS:
        try:
            predicate(env)
        except TypeError as exc:
            raise RuleError(f"type error: {exc}") from None


def parse_rules(raws: Any) -> list[Rule]:
    """Check and compile a whole rule list, in order.

    A rule after a ``fallback`` rule could never match and is rejected; a
    list without a fallback gets :data:`IMPLICIT_FALLBACK` appended.
    Raises :class:`RuleError` for the first invalid rule.
    """
    if not isinstance(raws, list | tuple):
        raise RuleError(f"router.rules must be a list of tables, got {type(raws).__name__}")
    rules: list[Rule] = []
    for i, raw in enumerate(raws, 1):
        rule = parse_rule(raw, i)
        if rules and rules[-1].fallback:
            raise RuleError(
                f"{_describe(raw, i)}: unreachable, it comes after the fallback rule "
                f"'{rules[-1].name}': {raw!r}"
            )
        rules.append(rule)
    if not rules or not rules[-1].fallback:
        rules.append(parse_rule(IMPLICIT_FALLBACK, len(rules) + 1))
    return rules
