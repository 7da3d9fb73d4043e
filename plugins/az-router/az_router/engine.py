"""The routing decision: rules, tiers, cascade and learned scores.

For one model call, :meth:`RoutingEngine.decide` does, in order:

1. **Estimate** the prompt size (tokens = characters of messages + tool
   schemas / 4, rounded up: the kernel's default ``Model.count_tokens``
   rule, computed once rather than per candidate) and the task's
   complexity class (:mod:`az_router.complexity`).
2. **Filter** the candidates: a model is eligible when it has not failed
   earlier in this task (``request.metadata["failed_models"]``), its
   context window is at least ``tokens + request.max_tokens``, when
   tools are offered it supports tools (local models count: they
   constrain decoding with a grammar), and it is not cooling down after a
   rate limit with a known wait (:mod:`az_router.cooldown`; ignored when
   every otherwise eligible model is cooling down).
3. **Rules**, first match wins (:mod:`az_router.rules`). A tier target
   picks that tier (or the nearest tier above with an eligible model, else
   the nearest below). A model target picks that model when it is eligible;
   otherwise the next rule is tried.
4. **Cascade**: if models failed earlier in the task, start one tier above
   the highest tier that failed; if the engine asks to ``escalate``, or the
   call is one of the last two turns (``turn >= max_turns - 1``) and the
   last two stored turns made no progress (the same tool calls repeated, or
   every tool call failed), start one tier above the rule's tier. Every
   escalation is recorded: in the decision, on the request
   (``request.metadata["route"]``), in the task log through the storage
   contract (``add_log``) and on the ``az.router`` logger.
5. **Capability skip**: when every eligible model of the chosen tier is
   expected to succeed on under ``router.min_success_rate`` (default 0.4)
   of this class - by its prior (:func:`~az_router.tiers.success_prior`)
   until it has ``router.min_samples`` (default 5) outcomes, then by its
   learned rate, and only once an upper confidence bound of that rate
   (:data:`SKIP_Z`) is under it too, since a skipped model is not tried on
   the class again and its rate would stay frozen - move one tier up. So
   "start at the free tier" means the cheapest tier with a capable model:
   a free hosted model with good priors is used, the embedded 135M model
   is passed over for code. (Why 0.4 and not 0.5: with the cascade a
   noticed failure only costs the cheaper attempt, so a cheap tier that
   succeeds on 40-50% of a class still saves money; below 40% the wasted
   attempts and silent failures outweigh it on the routing benchmark.)
   A rule with ``within`` raises the bar to the best eligible model's
   expected rate minus ``within``, and the tier's models under that bar
   are left out of step 6.
6. **Score** the models of the chosen tier and take the best (ties: the
   cheaper one)::

       score = quality * 0.5 + success_rate * 0.3 + cost_score * 0.2
       cost_score = (p_min + 0.01) / (p + 0.01)

   ``p`` is the model's blended price (USD per 1M tokens, see
   :mod:`az_router.tiers`), ``p_min`` the lowest among eligible candidates;
   the 0.01 USD/1M offset keeps free models finite, so the cheapest model
   scores 1 and a model 10x its price about 0.1. ``quality`` is
   ``[router.quality]`` (model id, then tier), else the model's prior
   quality (:func:`~az_router.tiers.quality_prior`: its own priors for
   well-known models, else the tier's); ``success_rate`` is its prior,
   smoothed with outcomes from :mod:`az_router.history` when there is a
   history.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from az_router.complexity import CLASSES, Complexity, estimate
from az_router.cooldown import COOLDOWN_FILE, Cooldowns
from az_router.history import History
from az_router.rules import DEFAULT_RULES, Rule, RuleError, parse_rules
from az_router.tiers import (
    DEFAULT_BANDS,
    TIERS,
    blended_price,
    parse_bands,
    quality_prior,
    success_prior,
    tier_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.types import ModelRequest, Task, Turn

log = logging.getLogger("az.router")

#: Offset (USD per 1M tokens) in cost_score, so free models stay finite.
COST_EPSILON = 0.01

#: Standard deviations above a learned success rate that must still fall
#: under ``min_success_rate`` before a tier is skipped on learned outcomes.
#: A skipped model gets no more tasks of that class, so its rate never moves
#: again: skipping on the point estimate froze an unlucky start for good
#: (1 success in 5 from a model that passes 61%), skipping on the bound waits
#: until the outcomes are clear (about 20 at a true rate of 0.2).
SKIP_Z = 1.0

#: Slack under a success bar, so that 0.86 - 0.05 (0.8099999...) still
#: admits a model expected to succeed on 0.81.
BAR_EPSILON = 1e-9


def estimate_tokens(request: ModelRequest) -> int:
    """Prompt tokens of ``request``: (message characters + 8 per message +
    tool schema and description characters) / 4, rounded up."""
    chars = 0
    for m in request.messages:
        chars += len(m.content or "") + 8
        for c in m.tool_calls:
            chars += len(c.name) + len(json.dumps(c.arguments))
    for t in request.tools:
        chars += len(json.dumps(t.input_schema)) + len(t.description)
    return -(-chars // 4)


@dataclass(slots=True)
class Candidate:
    """One model as the router saw it. Prices are USD per 1M tokens."""

    model: Model
    id: str
    tier: str
    price: float
    excluded: str | None = None
    quality: float = 0.0
    prior: float = 0.0
    success_rate: float = 0.0
    samples: int = 0
    cost_score: float = 0.0
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.id,
            "tier": self.tier,
            "blended_usd_per_1m": round(self.price, 6),
            "eligible": self.excluded is None,
            "excluded_reason": self.excluded,
            "quality": round(self.quality, 4),
            "prior_success_rate": round(self.prior, 4),
            "success_rate": round(self.success_rate, 4),
            "samples": self.samples,
            "cost_score": round(self.cost_score, 4),
            "score": round(self.score, 4),
        }


@dataclass(slots=True)
class Decision:
    """What the router chose and why (``az route explain`` prints it).

    ``tokens`` is the estimated prompt size, ``needed_tokens`` adds
    ``max_tokens``; ``start_tier`` is the rule's tier, ``tier`` the one
    used after escalation; ``escalation`` lists the reasons for moving up
    after failures, no progress or learned outcomes; ``skipped`` the tiers
    passed over on priors alone (no model expected to be capable).
    """

    model: Model | None
    tokens: int
    needed_tokens: int
    complexity: Complexity
    rule: Rule | None
    start_tier: str | None
    tier: str | None
    candidates: list[Candidate]
    rules_checked: list[dict[str, Any]] = field(default_factory=list)
    escalation: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reason: str = ""
    history: str = "priors"
    decision_ms: float = 0.0

    @property
    def model_id(self) -> str | None:
        return self.model.info.id if self.model is not None else None

    def summary(self) -> dict[str, Any]:
        """The short form put on ``request.metadata["route"]``."""
        return {
            "model": self.model_id,
            "tier": self.tier,
            "rule": self.rule.name if self.rule else None,
            "complexity": self.complexity.cls,
            "escalation": list(self.escalation),
            "skipped": list(self.skipped),
            "reason": self.reason,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "needed_tokens": self.needed_tokens,
            "complexity": self.complexity.to_dict(),
            "rule": self.rule.to_dict() if self.rule else None,
            "rules_checked": self.rules_checked,
            "start_tier": self.start_tier,
            "tier": self.tier,
            "escalation": self.escalation,
            "skipped": self.skipped,
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": self.model_id,
            "reason": self.reason,
            "history": self.history,
            "decision_ms": round(self.decision_ms, 4),
        }


def _rate(c: Candidate) -> str:
    return f"{c.id} {c.success_rate:.0%} of {c.samples}"


def _failed_ids(metadata: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in metadata.get("failed_models") or []:
        if isinstance(item, dict) and item.get("model"):
            out[str(item["model"])] = str(item.get("error") or "failed")
        elif isinstance(item, str):
            out[item] = "failed"
    return out


def _signature(turn: Turn) -> tuple[str, ...]:
    return tuple(
        sorted(f"{c.name}:{json.dumps(c.arguments, sort_keys=True)}" for c in turn.tool_calls)
    )


def no_progress(turns: list[Turn]) -> str | None:
    """Why the last two turns made no progress, or None.

    No progress means: both turns made the same non-empty set of tool calls
    (same names and arguments), or every tool call of both turns failed.
    """
    if len(turns) < 2:
        return None
    a, b = turns[-2], turns[-1]
    if a.tool_calls and _signature(a) == _signature(b):
        names = ", ".join(sorted({c.name for c in b.tool_calls}))
        return f"turns {a.index} and {b.index} repeated the same tool call(s) ({names})"
    results = [*a.tool_results, *b.tool_results]
    if a.tool_results and b.tool_results and not any(r.success for r in results):
        return f"every tool call failed in turns {a.index} and {b.index}"
    return None


class RoutingEngine:
    """Routing by rules, tiers, cascade and scores, one decision per model call.

    ``rules`` are dicts in the form of :mod:`az_router.rules` (default:
    :data:`~az_router.rules.DEFAULT_RULES`); ``bands`` are the tier price
    edges (:data:`~az_router.tiers.DEFAULT_BANDS`); ``quality`` maps tier
    names or model ids to a quality in [0, 1]; ``priors`` maps model ids
    to ``{class: prior success rate}`` (before :data:`~az_router.tiers.
    MODEL_PRIORS` and the tier's); ``history`` gives learned success rates
    (None: priors only, no storage access); ``cooldowns`` keeps
    rate-limited models off (None: no cool-downs).
    Raises :class:`~az_router.rules.RuleError` for invalid rules.
    """

    def __init__(
        self,
        rules: list[dict[str, Any]] | None = None,
        *,
        bands: dict[str, float] | None = None,
        quality: dict[str, float] | None = None,
        long_tokens: int = 8000,
        min_success_rate: float = 0.4,
        min_samples: int = 5,
        history: History | None = None,
        log_to_storage: bool = True,
        priors: dict[str, dict[str, float]] | None = None,
        cooldowns: Cooldowns | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = parse_rules(DEFAULT_RULES if rules is None else rules)
        self._raw_rules = list(DEFAULT_RULES if rules is None else rules)
        self.bands = dict(bands or DEFAULT_BANDS)
        self.quality = dict(quality or {})
        self.long_tokens = long_tokens
        self.min_success_rate = min_success_rate
        self.min_samples = min_samples
        self.history = history
        self.log_to_storage = log_to_storage
        self.priors = {k: dict(v) for k, v in (priors or {}).items()}
        self.cooldowns = cooldowns
        self.last_decision: Decision | None = None

    # -- configuration ----------------------------------------------------
    @classmethod
    def from_config(cls, config: AzConfig) -> RoutingEngine:
        """Build from the ``[router]`` section. Keys: ``rules`` (list of
        rule tables), ``tiers`` (``cheap_max``/``mid_max``, USD per 1M),
        ``quality`` (tier or model id -> [0, 1]), ``long_tokens``,
        ``min_success_rate``, ``min_samples``, ``history`` (bool, default
        true), ``history_limit``, ``history_ttl_s``, ``prior_strength``,
        ``priors`` (model id -> {class: success rate in [0, 1]}),
        ``cooldowns`` (bool, default true: remember rate-limited models in
        ``<az home>/router-cooldowns.json``).
        Raises :class:`RuleError` (a ConfigError) naming the bad key or rule.
        """
        from az_router.settings import RouterSettings

        section = config.section("router")
        known = set(RouterSettings.__struct_fields__)
        unknown = set(section) - known
        if unknown:
            raise RuleError(
                f"[router] in {config.path}: unknown key(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        try:
            bands = parse_bands(section.get("tiers") or {})
            quality = _parse_quality(section.get("quality") or {})
            long_tokens = _number(section, "long_tokens", 8000, int)
            min_rate = _number(section, "min_success_rate", 0.4, float)
            min_samples = _number(section, "min_samples", 5, int)
            limit = _number(section, "history_limit", 200, int)
            ttl = _number(section, "history_ttl_s", 60.0, float)
            k = _number(section, "prior_strength", 4.0, float)
            priors = _parse_priors(section.get("priors") or {})
        except ValueError as exc:
            raise RuleError(f"{config.path}: {exc}") from None
        use_history = section.get("history", True)
        history = (
            History(limit=limit, ttl_s=ttl, prior_strength=k, long_tokens=long_tokens)
            if use_history
            else None
        )
        cooldowns = None
        if section.get("cooldowns", True):
            from az_os.config import az_home

            cooldowns = Cooldowns(path=az_home() / COOLDOWN_FILE)
        rules = section.get("rules")
        try:
            return cls(
                rules,
                bands=bands,
                quality=quality,
                long_tokens=long_tokens,
                min_success_rate=min_rate,
                min_samples=min_samples,
                history=history,
                priors=priors,
                cooldowns=cooldowns,
            )
        except RuleError as exc:
            raise RuleError(f"router.rules in {config.path}: {exc}") from None

    @property
    def rules(self) -> list[Rule]:
        """The compiled rules in force (last one is a fallback)."""
        return list(self._rules)

    async def update_routing_rules(self, new_rules: list[dict[str, Any]]) -> None:
        """Replace the rules at run time (async, for callers in an event loop).

        The whole list is checked first; on the first invalid rule a
        :class:`RuleError` names it and the reason, and the rules in force
        stay unchanged.
        """
        self.set_rules(new_rules)

    async def get_optimal_provider(self, task: Task, estimated_tokens: int) -> str:
        """The model id (LiteLLM style, ``provider/model``) this engine's rules
        choose for a call of ``task`` whose prompt is ``estimated_tokens``
        tokens (used instead of the router's own estimate): :meth:`decide`
        on the task's description among the host's usable models
        (:func:`az_os.completion.candidates`). A model fixed on the task
        (``task.model``, id or alias) is returned as the engine would use it.

        Raises ValueError for a negative ``estimated_tokens``,
        :class:`~az_os.errors.NotFoundError` for an unknown fixed model and
        :class:`~az_os.errors.ModelError` when no model is eligible (the
        message has the decision's reason).
        """
        from az_os import completion

        request = completion.question_request(_load_config(), task.description)
        model, _ = self._choose(task, request, estimated_tokens)
        return model.info.id

    async def execute_with_routing(
        self, task: Task, prompt: str, estimated_tokens: int
    ) -> dict[str, Any]:
        """Ask ``prompt`` (one model call, no tools) on the model
        :meth:`get_optimal_provider` would choose, through the kernel's call
        path (:func:`az_os.completion.call`): ``az_before_model_call`` (a
        budget plugin may refuse it), the call, ``az_after_model_call`` (a
        cost plugin records its USD, under ``task.id`` when the task is
        stored, else without a task link but in the period totals). Runs the
        model in a worker thread.

        Returns ``{"model": id, "content": answer text, "prompt_tokens",
        "completion_tokens" (tokens), "cost_usd" (USD), "duration_ms"
        (milliseconds, the model call), "finish_reason", "route":
        the decision's summary (None for a fixed model)}``. Raises as
        :meth:`get_optimal_provider`, plus
        :class:`~az_os.errors.BudgetExceededError`,
        :class:`~az_os.errors.ModelError` when the model fails, and
        :class:`~az_os.errors.ConfigError` for an empty prompt.
        """
        import asyncio

        from az_os import completion
        from az_os.errors import ConfigError
        from az_os.plugins import get_host

        if not prompt.strip():
            raise ConfigError("the prompt is empty")
        request = completion.question_request(_load_config(), prompt)
        model, decision = self._choose(task, request, estimated_tokens)
        route = decision.summary() if decision is not None else None
        if route is not None:
            request.metadata["route"] = route
        response = await asyncio.to_thread(completion.call, get_host(), task, request, model)
        usage = response.usage
        return {
            "model": model.info.id,
            "content": response.message.content or "",
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": usage.cost_usd,
            "duration_ms": response.duration_ms,
            "finish_reason": response.finish_reason,
            "route": route,
        }

    def _choose(
        self, task: Task, request: ModelRequest, estimated_tokens: int
    ) -> tuple[Model, Decision | None]:
        """The model for ``request`` and the decision (None: fixed by the task)."""
        from az_os import completion
        from az_os.errors import ModelError
        from az_os.plugins import get_host

        if isinstance(estimated_tokens, bool) or estimated_tokens < 0:
            raise ValueError(f"estimated_tokens must be >= 0, got {estimated_tokens!r}")
        host = get_host()
        if task.model:
            model = host.find_model(task.model)
            ok, why = model.usable()
            if not ok:
                raise ModelError(f"model {model.info.id} is not usable: {why}", model=model.info.id)
            return model, None
        candidates = completion.candidates(host, request)
        decision = self.decide(task, request, candidates, tokens=estimated_tokens)
        if decision.model is None:
            raise ModelError(f"no model to route to: {decision.reason}")
        return decision.model, decision

    def set_rules(self, new_rules: list[dict[str, Any]]) -> None:
        """Synchronous :meth:`update_routing_rules`."""
        compiled = parse_rules(new_rules)
        with self._lock:
            self._rules = compiled
            self._raw_rules = list(new_rules)

    # -- deciding ---------------------------------------------------------
    def decide(
        self,
        task: Task,
        request: ModelRequest,
        candidates: list[Model],
        *,
        tokens: int | None = None,
    ) -> Decision:
        """Choose a model for one call; see the module docstring for the
        steps, one method each: :meth:`_classify`, :meth:`_screen`,
        :meth:`_match_rule`, :meth:`_escalation_level`, :meth:`_pick` and
        :meth:`_explain`. ``tokens`` overrides the prompt-size estimate.
        Never raises for routing reasons: with no eligible model,
        ``Decision.model`` is None and ``reason`` says why."""
        t0 = time.perf_counter()
        meta = request.metadata or {}
        est, needed, cx = self._classify(task, request, tokens)
        failed = _failed_ids(meta)
        cands = self._screen(candidates, request, needed, failed, meta)
        eligible = [c for c in cands if c.excluded is None]
        hist_source = "priors"
        if eligible:
            p_min = min(c.price for c in eligible)
            for c in eligible:
                self._score(c, cx.cls, p_min)
            if self.history is not None:
                hist_source = self.history.outcomes().source
        env = self._rule_env(task, request, est, cx, meta, failed)
        rule, start, chosen, rules_checked = self._match_rule(env, eligible)
        decision = Decision(
            model=None,
            tokens=est,
            needed_tokens=needed,
            complexity=cx,
            rule=rule,
            start_tier=TIERS[start] if start is not None else None,
            tier=None,
            candidates=cands,
            rules_checked=rules_checked,
            history=hist_source,
        )
        if not eligible or start is None:
            decision.reason = "no eligible candidate: " + (
                "; ".join(f"{c.id}: {c.excluded}" for c in cands) or "no usable models"
            )
            return self._finish(decision, t0)
        level = self._escalation_level(decision, task, env, failed, cands, start)
        if level != start or chosen is None or decision.escalation:
            chosen = self._pick(decision, level, eligible, rule, cx.cls)
        self._explain(decision, chosen, rule, cx.cls)
        if decision.escalation:
            self._record(task, decision)
        return self._finish(decision, t0)

    def _classify(
        self, task: Task, request: ModelRequest, tokens: int | None
    ) -> tuple[int, int, Complexity]:
        """Step 1: the prompt's size in tokens (estimated unless given), the
        tokens the call needs (prompt + completion cap) and the task's
        complexity class, from its description and first new user message."""
        est = estimate_tokens(request) if tokens is None else tokens
        needed = est + request.max_tokens
        text = task.description
        for m in request.messages:
            if m.role == "user" and m.content and m.content not in text:
                text = f"{text}\n{m.content}"
                break
        return est, needed, estimate(text, est, self.long_tokens)

    def _screen(
        self,
        candidates: list[Model],
        request: ModelRequest,
        needed: int,
        failed: dict[str, str],
        meta: dict[str, Any],
    ) -> list[Candidate]:
        """Step 2: every candidate with its tier and price, and why it is
        excluded, if it is: failed earlier in the task, too small a context
        window, no tool support when tools are offered, or cooling down
        after a rate limit (only while another candidate is not)."""
        tools = bool(request.tools)
        cooling: dict[str, float] = {}
        if self.cooldowns is not None:
            self.cooldowns.note_failures(meta.get("failed_models") or [])
            cooling = self.cooldowns.active()
        cands: list[Candidate] = []
        for model in candidates:
            info = model.info
            c = Candidate(model, info.id, tier_of(info, self.bands), blended_price(info))
            if info.id in failed:
                c.excluded = f"failed earlier in this task: {failed[info.id]}"
            elif info.context_window < needed:
                c.excluded = f"context window {info.context_window} < {needed} tokens needed"
            elif tools and not (info.supports_tools or info.local):
                c.excluded = "no tool support and tools are offered"
            cands.append(c)
        if cooling and any(c.excluded is None and c.id not in cooling for c in cands):
            for c in cands:
                if c.excluded is None and c.id in cooling:
                    c.excluded = (
                        f"rate limited by the provider: cooling down for {cooling[c.id]:.0f} s more"
                    )
        return cands

    def _rule_env(
        self,
        task: Task,
        request: ModelRequest,
        est: int,
        cx: Complexity,
        meta: dict[str, Any],
        failed: dict[str, str],
    ) -> dict[str, Any]:
        """The names a rule's condition can use (see :mod:`az_router.rules`)."""
        tools = bool(request.tools)
        return {
            "tokens": est,
            "complexity": cx.cls,
            "priority": getattr(task.priority, "value", task.priority),
            "tools": tools,
            "capabilities": frozenset({"tools"} if tools else ()),
            "turn": int(meta.get("turn") or 1),
            "max_turns": int(meta.get("max_turns") or task.max_turns),
            "escalate": bool(meta.get("escalate")),
            "failed": len(failed),
        }

    def _match_rule(
        self, env: dict[str, Any], eligible: list[Candidate]
    ) -> tuple[Rule | None, int | None, Candidate | None, list[dict[str, Any]]]:
        """Step 3: the first rule whose condition holds: ``(rule, start tier
        index, the model a model rule names, what each rule checked said)``.
        A model rule whose model is not eligible passes to the next rule."""
        rules_checked: list[dict[str, Any]] = []
        with self._lock:
            rules = self._rules
        for r in rules:
            if not r.matches(env):
                rules_checked.append({"name": r.name, "matched": False})
                continue
            if r.target_kind == "model":
                hit = self._find(r.target, eligible)
                if hit is None:
                    rules_checked.append(
                        {
                            "name": r.name,
                            "matched": True,
                            "note": f"model '{r.target}' is not an eligible candidate; next rule",
                        }
                    )
                    continue
                rules_checked.append({"name": r.name, "matched": True})
                return r, TIERS.index(hit.tier), hit, rules_checked
            rules_checked.append({"name": r.name, "matched": True})
            return r, TIERS.index(r.target), None, rules_checked
        return None, None, None, rules_checked

    def _escalation_level(
        self,
        decision: Decision,
        task: Task,
        env: dict[str, Any],
        failed: dict[str, str],
        cands: list[Candidate],
        start: int,
    ) -> int:
        """Step 4, the cascade: the tier index to pick from, above ``start``
        when a model failed earlier in the task (above the highest failed
        tier), the engine asked to escalate, or the last turns make no
        progress; each reason goes on ``decision.escalation``."""
        level = start
        turn, max_turns = env["turn"], env["max_turns"]
        if failed:
            failed_tiers = [self._tier_index_of(m, cands) for m in failed]
            known = [i for i in failed_tiers if i is not None]
            top = max(known) if known else start
            if top + 1 > level:
                level = top + 1
            decision.escalation.append(
                "failed earlier: " + "; ".join(f"{m} ({e})" for m, e in failed.items())
            )
        elif env["escalate"]:
            level += 1
            decision.escalation.append("the engine asked to escalate")
        elif turn >= max_turns - 1 and turn > 1:
            why = self._no_progress(task)
            if why:
                level += 1
                decision.escalation.append(f"turn {turn} of {max_turns} with no progress: {why}")
        return level

    def _pick(
        self,
        decision: Decision,
        level: int,
        eligible: list[Candidate],
        rule: Rule | None,
        cls: str,
    ) -> Candidate:
        """Step 5: the best-scoring model of the nearest tier at or above
        ``level``, skipping up a tier while no model of it is expected to
        succeed on this class (the absolute bar, or the rule's ``within``
        bar); skips go on ``decision.skipped`` or ``decision.escalation``."""
        pool_tier = self._nearest_tier(level, eligible)
        # capability skip: the absolute bar, or the rule's 'within' bar
        bar, wanted = self.min_success_rate, f"{self.min_success_rate:.0%} of {cls} tasks"
        if rule is not None and rule.within is not None:
            best = max(eligible, key=lambda c: (self._expected(c), -c.price))
            top = self._expected(best)
            if top - rule.within > bar:
                bar = top - rule.within
                wanted = (
                    f"{cls} tasks within {rule.within * 100:g} points of the best "
                    f"({best.id} {top:.0%})"
                )
        while True:
            pool = [c for c in eligible if c.tier == pool_tier]
            learned_bad = [
                c
                for c in pool
                if c.samples >= self.min_samples and self._upper(c) < bar - BAR_EPSILON
            ]
            prior_bad = [
                c for c in pool if c.samples < self.min_samples and c.prior < bar - BAR_EPSILON
            ]
            higher = [c for c in eligible if TIERS.index(c.tier) > TIERS.index(pool_tier)]
            if pool and len(learned_bad) + len(prior_bad) == len(pool) and higher:
                if learned_bad:
                    decision.escalation.append(
                        f"learned: no {pool_tier} model succeeds on {wanted} "
                        f"({', '.join(_rate(c) for c in pool)}; upper bound "
                        f"{max(self._upper(c) for c in learned_bad):.0%})"
                    )
                else:
                    decision.skipped.append(
                        f"no {pool_tier} model is expected to succeed on {wanted} "
                        f"({', '.join(f'{c.id} {c.prior:.0%}' for c in pool)})"
                    )
                pool_tier = self._nearest_tier(TIERS.index(pool_tier) + 1, eligible)
                continue
            break
        if bar > self.min_success_rate:
            # a 'within' rule: among the tier's models, only those near the best
            pool = [c for c in pool if c not in learned_bad and c not in prior_bad] or pool
        return max(pool, key=lambda c: (c.score, -c.price))

    def _explain(self, decision: Decision, chosen: Candidate, rule: Rule | None, cls: str) -> None:
        """Step 6: the chosen model, its tier, and the one-line reason."""
        decision.model = chosen.model
        decision.tier = chosen.tier
        parts = [
            f"rule '{rule.name}' ({rule.reason})" if rule else "no rule",
            f"class {cls}",
            f"tier {chosen.tier}",
            f"score {chosen.score:.3f}",
        ]
        if decision.skipped:
            parts.append("skipped: " + "; ".join(decision.skipped))
        if decision.escalation:
            parts.append("escalated: " + "; ".join(decision.escalation))
        decision.reason = ", ".join(parts)

    def _finish(self, decision: Decision, t0: float) -> Decision:
        decision.decision_ms = (time.perf_counter() - t0) * 1000.0
        self.last_decision = decision
        return decision

    def _score(self, c: Candidate, cls: str, p_min: float) -> None:
        c.quality = self.quality.get(
            c.id, self.quality.get(c.tier, quality_prior(c.id, c.tier, self.priors))
        )
        c.prior = success_prior(c.id, c.tier, cls, self.priors)
        if self.history is not None:
            c.success_rate, c.samples = self.history.success_rate(c.id, c.tier, cls, c.prior)
        else:
            c.success_rate, c.samples = c.prior, 0
        c.cost_score = (p_min + COST_EPSILON) / (c.price + COST_EPSILON)
        c.score = c.quality * 0.5 + c.success_rate * 0.3 + c.cost_score * 0.2

    def _expected(self, c: Candidate) -> float:
        """The success rate the capability skip goes by: learned once the
        candidate has ``min_samples`` outcomes, else its prior."""
        return c.success_rate if c.samples >= self.min_samples else c.prior

    def _upper(self, c: Candidate) -> float:
        """An upper confidence bound of a candidate's learned success rate:
        the smoothed rate plus :data:`SKIP_Z` standard deviations of its Beta
        posterior (``samples`` outcomes plus ``prior_strength`` pseudo-ones)."""
        k = self.history.k if self.history is not None else 0.0
        r = c.success_rate
        return r + SKIP_Z * math.sqrt(r * (1.0 - r) / (c.samples + k + 1.0))

    def _tier_index_of(self, model_id: str, cands: list[Candidate]) -> int | None:
        """Tier index of a (failed) model: from the candidates, else from the
        host's registry (the engine removes failed models from candidates)."""
        for c in cands:
            if c.id == model_id:
                return TIERS.index(c.tier)
        try:
            from az_os.plugins import get_host

            model = get_host().models().get(model_id)
        except Exception:  # noqa: BLE001
            return None
        return TIERS.index(tier_of(model.info, self.bands)) if model is not None else None

    @staticmethod
    def _nearest_tier(level: int, eligible: list[Candidate]) -> str:
        """The tier at ``level`` if it has an eligible model, else the
        nearest above, else the nearest below."""
        present = {TIERS.index(c.tier) for c in eligible}
        above = [i for i in present if i >= level]
        return TIERS[min(above)] if above else TIERS[max(present)]

    @staticmethod
    def _find(target: str, eligible: list[Candidate]) -> Candidate | None:
        for c in eligible:
            info = c.model.info
            if (
                target in (info.id, info.id.split("/", 1)[-1], info.provider)
                or target in info.aliases
            ):
                return c
        try:
            from az_os.plugins import get_host

            mid = get_host().find_model(target).info.id
        except Exception:  # noqa: BLE001 - unknown name: the rule does not apply
            return None
        return next((c for c in eligible if c.id == mid), None)

    def _no_progress(self, task: Task) -> str | None:
        try:
            from az_os.drivers import get_storage

            turns = get_storage().list_turns(task.id)
        except Exception:  # noqa: BLE001 - no storage: no evidence of looping
            return None
        return no_progress(turns)

    def _record(self, task: Task, decision: Decision) -> None:
        msg = (
            f"router: escalated to {decision.model_id} (tier {decision.tier}, "
            f"rule tier {decision.start_tier}): {'; '.join(decision.escalation)}"
        )
        log.info("task %s: %s", task.id, msg)
        if not self.log_to_storage:
            return
        try:
            from az_os.drivers import get_storage
            from az_os.types import LogRecord

            storage = get_storage()
            if storage.get_task(task.id) is not None:
                storage.add_log(LogRecord(task_id=task.id, level="warning", message=msg))
        except Exception as exc:  # noqa: BLE001 - logging must not break routing
            log.debug("router: could not write the task log: %s", exc)


def _load_config() -> AzConfig:
    from az_os.config import load_config

    return load_config()


def usable_models() -> list[Model]:
    """The host's usable models, cheapest (blended price) first."""
    from az_os.plugins import get_host

    models = [m for m in get_host().models().values() if m.usable()[0]]
    return sorted(models, key=lambda m: blended_price(m.info))


def _number(section: dict[str, Any], key: str, default: float, kind: type) -> Any:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"router.{key}: expected a non-negative number, got {value!r}")
    return kind(value)


def _parse_priors(section: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``[router.priors]``: model id -> {class: success rate in [0, 1]}."""
    out: dict[str, dict[str, float]] = {}
    for model, table in section.items():
        if not isinstance(table, dict):
            raise ValueError(f"router.priors.{model}: expected a table of class = rate")
        rates: dict[str, float] = {}
        for cls, value in table.items():
            if cls not in CLASSES:
                raise ValueError(
                    f"router.priors.{model}.{cls}: unknown class (known: {', '.join(CLASSES)})"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(
                    f"router.priors.{model}.{cls}: expected a number in [0, 1], got {value!r}"
                )
            rates[cls] = float(value)
        out[str(model)] = rates
    return out


def _parse_quality(section: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in section.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"router.quality.{key}: expected a number in [0, 1], got {value!r}")
        out[key] = float(value)
    return out
