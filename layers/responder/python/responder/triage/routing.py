"""Routing rules as data: which team gets a classified mention, and when its answer is due.

The rules ship as `responder/data/routing_rules.json`. Schema (every key optional in an override):

- `teams`: object team → description. Every team a rule may name; naming an undeclared team is an error
  (a typo would otherwise create a team nobody watches). Names: letters, digits, `_ . -`, at most 64.
- `default_team`: the team when no rule below applies.
- `precedence`: list of `priority`, `intent`, `language`, `platform`, `topic`: the order in which the maps below
  are consulted; the first with an entry wins (default: that order).
- `priority_overrides`: `p1`..`p4` → team (p1 → `escalations`).
- `intent_teams`: intent → team (praise, feedback → `social`).
- `language_teams`: ISO 639-1 code or `und` → team (e.g. `es` → `care_es`; empty by default).
- `platform_teams`: channel (`x`, `facebook`, `instagram`, `messenger`, `whatsapp`) or platform (`x`, `meta`)
  → team; the channel is looked up before its platform (empty by default).
- `topic_teams`: topic → team (refund → `billing`, order → `orders`, account → `accounts`, ...).
- `vip`: `{"ids": [...], "handles": [...]}`: authors whose mentions are always p1; handles compare without `@`,
  ignoring case.
- `high_reach_followers`: integer ≥ 1 (10,000): authors with at least this many followers are high reach.
- `verified_is_high_reach`: boolean (true): a verified author counts as high reach.
- `sla_minutes`: key → minutes (integer ≥ 1); keys are priorities, intents, topics or `default` (required);
  the smallest matching value applies, so a p1 complaint gets min(p1, complaint).

Overrides (`load_rules(source)`) deep-merge over the shipped file: objects merge key by key, `null` removes a
key, anything else (lists included) replaces. Invalid rules raise `RoutingRulesError` naming the key.
`RoutingRules.teams()` lists every team a mention can be routed to: the infra creates one SNS subscription
filter per team.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from responder.core.labels import CHANNELS, INTENTS, PLATFORMS, PRIORITIES, TOPICS, platform_of

RULES_FILE = Path(__file__).resolve().parents[1] / "data" / "routing_rules.json"
PRECEDENCE_STEPS: tuple[str, ...] = ("priority", "intent", "language", "platform", "topic")
_TEAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # safe as an SNS message attribute value
_LANG_RE = re.compile(r"^(?:[a-z]{2}|und)$")
_KNOWN_KEYS = frozenset({
    "_about", "teams", "default_team", "precedence", "priority_overrides", "intent_teams", "language_teams",
    "platform_teams", "topic_teams", "vip", "high_reach_followers", "verified_is_high_reach", "sla_minutes",
})


class RoutingRulesError(ValueError):
    """Routing rules that cannot be used; the message names the offending key."""


@dataclass(frozen=True)
class RoutingRules:
    """Validated routing rules (build with `load_rules`)."""

    team_descriptions: Mapping[str, str]
    default_team: str
    precedence: tuple[str, ...]
    priority_overrides: Mapping[str, str]
    intent_teams: Mapping[str, str]
    language_teams: Mapping[str, str]
    platform_teams: Mapping[str, str]
    topic_teams: Mapping[str, str]
    vip_ids: frozenset[str]
    vip_handles: frozenset[str]
    high_reach_followers: int
    verified_is_high_reach: bool
    sla_minutes: Mapping[str, int]
    document: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def teams(self) -> tuple[str, ...]:
        """Every team a mention can be routed to, sorted (one SNS subscription filter each).

        Steps left out of `precedence`, and steps after one that maps every possible value (topic_teams usually
        maps every topic), can never choose a team, so their teams are not listed.
        """
        maps = {"priority": (self.priority_overrides, PRIORITIES), "intent": (self.intent_teams, INTENTS),
                "language": (self.language_teams, None), "platform": (self.platform_teams, None),
                "topic": (self.topic_teams, TOPICS)}
        names: set[str] = set()
        for step in self.precedence:
            mapping, every = maps[step]
            names.update(mapping.values())
            if every is not None and all(value in mapping for value in every):
                return tuple(sorted(names))
        names.add(self.default_team)
        return tuple(sorted(names))

    def is_vip(self, author: Mapping[str, Any] | None) -> bool:
        """Whether the author is on the VIP list (by platform id, or by handle ignoring case and `@`)."""
        if not author:
            return False
        author_id = author.get("id")
        if author_id is not None and str(author_id) in self.vip_ids:
            return True
        handle = author.get("handle")
        return isinstance(handle, str) and _handle_key(handle) in self.vip_handles

    def high_reach(self, author: Mapping[str, Any] | None) -> str | None:
        """A short reason when the author reaches many people (followers over the threshold, or verified)."""
        if not author:
            return None
        followers = author.get("followers")
        if isinstance(followers, int) and not isinstance(followers, bool) \
                and followers >= self.high_reach_followers:
            return f"high reach: {followers:,} followers"
        if self.verified_is_high_reach and author.get("verified") is True:
            return "high reach: verified author"
        return None

    def team_for(self, *, priority: str, intent: str, topic: str, language: str | None = None,
                 channel: str | None = None) -> tuple[str, str]:
        """The team for a classified mention and the rule that chose it."""
        for step in self.precedence:
            if step == "priority" and priority in self.priority_overrides:
                team = self.priority_overrides[priority]
                return team, f"team {team}: priority {priority}"
            if step == "intent" and intent in self.intent_teams:
                return self.intent_teams[intent], f"team {self.intent_teams[intent]}: intent {intent}"
            if step == "language" and language in self.language_teams:
                return self.language_teams[language], f"team {self.language_teams[language]}: language {language}"
            if step == "platform":
                for key in (channel, platform_of(channel)):
                    if key is not None and key in self.platform_teams:
                        return self.platform_teams[key], f"team {self.platform_teams[key]}: platform {key}"
            if step == "topic" and topic in self.topic_teams:
                return self.topic_teams[topic], f"team {self.topic_teams[topic]}: topic {topic}"
        return self.default_team, f"team {self.default_team}: default"

    def sla_for(self, *, priority: str, intent: str, topic: str) -> tuple[int, str]:
        """Minutes allowed for the first answer: the strictest rule that matches, else `default`."""
        matches = [(self.sla_minutes[key], key) for key in (priority, intent, topic) if key in self.sla_minutes]
        if not matches:
            return self.sla_minutes["default"], f"sla {self.sla_minutes['default']} min: default"
        minutes, key = min(matches)
        return minutes, f"sla {minutes} min: {key}"

    def to_dict(self) -> dict[str, Any]:
        """The merged rules document these rules were built from."""
        return copy.deepcopy(dict(self.document))


@dataclass(frozen=True)
class Route:
    """Where a mention goes and by when it needs an answer."""

    team: str
    priority: str
    sla_minutes: int
    sla_due: str  # ISO 8601 UTC with Z
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"team": self.team, "priority": self.priority, "sla_minutes": self.sla_minutes,
                "sla_due": self.sla_due, "reasons": list(self.reasons)}


def route(classification: Any, created_at: str | datetime, rules: RoutingRules | None = None) -> Route:
    """Team, priority and SLA due time for a classification (a `Classification` or its dict)."""
    rules = rules or load_rules()
    values = classification.to_dict() if hasattr(classification, "to_dict") else dict(classification)
    priority = values.get("priority") or "p4"
    intent = values.get("intent") or "other"
    topic = values.get("topic") or "other"
    team, team_reason = rules.team_for(priority=priority, intent=intent, topic=topic,
                                       language=values.get("language"), channel=values.get("channel"))
    minutes, sla_reason = rules.sla_for(priority=priority, intent=intent, topic=topic)
    due = parse_utc(created_at) + timedelta(minutes=minutes)
    return Route(team=team, priority=priority, sla_minutes=minutes, sla_due=format_utc(due),
                 reasons=(team_reason, sla_reason))


def parse_utc(value: str | datetime) -> datetime:
    """An aware UTC datetime from ISO 8601 text (`Z` or an offset) or a datetime (naive means UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"created_at is not an ISO 8601 time: {value!r}") from exc
    else:
        raise TypeError(f"created_at must be an ISO 8601 string or a datetime, not {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second (the model's created_at format)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_rules(source: RoutingRules | Mapping[str, Any] | str | os.PathLike[str] | None = None) -> RoutingRules:
    """Rules from the shipped file, deep-merged with an override: a dict, a JSON string or a path to a JSON file."""
    if source is None:
        return _shipped_rules()
    if isinstance(source, RoutingRules):
        return source
    override = read_json_source(source, "routing rules", RoutingRulesError)
    return build_rules(deep_merge(_shipped_document(), override))


def build_rules(document: Mapping[str, Any]) -> RoutingRules:
    """Validate a complete rules document."""
    if not isinstance(document, Mapping):
        raise RoutingRulesError("routing rules must be a JSON object")
    unknown = sorted(set(document) - _KNOWN_KEYS)
    if unknown:
        known = ", ".join(sorted(_KNOWN_KEYS - {"_about"}))
        raise RoutingRulesError(f"routing rules: unknown key {unknown[0]!r} (known: {known})")
    teams = _mapping(document, "teams")
    if not teams:
        raise RoutingRulesError("routing rules: teams must declare at least one team")
    for name, description in teams.items():
        if not _TEAM_RE.match(name):
            raise RoutingRulesError(f"routing rules: teams.{name} is not a valid team name "
                                    "(letters, digits, _ . -; at most 64)")
        if not isinstance(description, str):
            raise RoutingRulesError(f"routing rules: teams.{name} must be a description string")

    def team(value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise RoutingRulesError(f"routing rules: {key} must be a team name")
        if value not in teams:
            raise RoutingRulesError(f"routing rules: {key} names team {value!r}, which is not declared in teams")
        return value

    def team_map(key: str, allowed: tuple[str, ...] | None = None,
                 pattern: re.Pattern[str] | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for label, value in _mapping(document, key).items():
            if allowed is not None and label not in allowed:
                raise RoutingRulesError(f"routing rules: {key}.{label} is not one of {', '.join(allowed)}")
            if pattern is not None and not pattern.match(label):
                raise RoutingRulesError(f"routing rules: {key}.{label} is not a 2-letter language code or und")
            out[label] = team(value, f"{key}.{label}")
        return out

    precedence = document.get("precedence", list(PRECEDENCE_STEPS))
    if (not isinstance(precedence, list) or len(set(precedence)) != len(precedence)
            or any(step not in PRECEDENCE_STEPS for step in precedence)):
        steps = ", ".join(PRECEDENCE_STEPS)
        raise RoutingRulesError(f"routing rules: precedence must list distinct steps from {steps}")

    vip = _mapping(document, "vip")
    for key in vip:
        if key not in ("ids", "handles"):
            raise RoutingRulesError(f"routing rules: vip.{key} is not one of ids, handles")
    vip_ids, vip_handles = vip.get("ids", []), vip.get("handles", [])
    for key, values in (("ids", vip_ids), ("handles", vip_handles)):
        if not isinstance(values, list) or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise RoutingRulesError(f"routing rules: vip.{key} must be a list of strings")

    reach = document.get("high_reach_followers", 10_000)
    if not isinstance(reach, int) or isinstance(reach, bool) or reach < 1:
        raise RoutingRulesError("routing rules: high_reach_followers must be a whole number of at least 1")
    verified = document.get("verified_is_high_reach", True)
    if not isinstance(verified, bool):
        raise RoutingRulesError("routing rules: verified_is_high_reach must be true or false")

    sla = _mapping(document, "sla_minutes")
    sla_keys = PRIORITIES + INTENTS + TOPICS + ("default",)
    for key, minutes in sla.items():
        if key not in sla_keys:
            raise RoutingRulesError(f"routing rules: sla_minutes.{key} is not a priority, intent, topic or default")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
            raise RoutingRulesError(f"routing rules: sla_minutes.{key} must be a whole number of minutes, at least 1")
    if "default" not in sla:
        raise RoutingRulesError("routing rules: sla_minutes.default is required")

    return RoutingRules(
        team_descriptions=dict(teams),
        default_team=team(document.get("default_team"), "default_team"),
        precedence=tuple(precedence),
        priority_overrides=team_map("priority_overrides", PRIORITIES),
        intent_teams=team_map("intent_teams", INTENTS),
        language_teams=team_map("language_teams", pattern=_LANG_RE),
        platform_teams=team_map("platform_teams", CHANNELS + tuple(p for p in PLATFORMS if p not in CHANNELS)),
        topic_teams=team_map("topic_teams", TOPICS),
        vip_ids=frozenset(str(v) for v in vip_ids),
        vip_handles=frozenset(_handle_key(str(v)) for v in vip_handles),
        high_reach_followers=reach,
        verified_is_high_reach=verified,
        sla_minutes=dict(sla),
        document=copy.deepcopy(dict(document)),
    )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: objects merge key by key, None removes a key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_json_source(source: Any, what: str, error: type[Exception]) -> dict[str, Any]:
    """A JSON object from a dict, a JSON string or a path; errors are `error` with a readable message."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise error(f"{what}: cannot read {path}: {exc.strerror or exc}") from exc
        where = str(path)
    elif isinstance(source, str):
        text, where = source, "JSON text"
    else:
        raise error(f"{what}: expected a dict, JSON text or a file path, not {type(source).__name__}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what}: {where} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(document, dict):
        raise error(f"{what}: {where} must hold a JSON object")
    return document


def _mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, Mapping):
        raise RoutingRulesError(f"routing rules: {key} must be an object")
    return value


def _handle_key(handle: str) -> str:
    return handle.strip().lstrip("@").casefold()


@lru_cache(maxsize=1)
def _shipped_document() -> dict[str, Any]:
    with RULES_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=1)
def _shipped_rules() -> RoutingRules:
    return build_rules(_shipped_document())
