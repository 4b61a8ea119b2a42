"""Routing rules as data: teams, overrides that deep-merge, clear errors, and SLA due times."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from responder.classification.classify import classify
from responder.triage.routing import RoutingRulesError, load_rules, route

CREATED = "2026-10-02T09:15:30Z"


def test_shipped_rules_list_every_team_a_mention_can_reach():
    # Given the rules shipped in the package
    rules = load_rules()
    # Then teams() lists exactly the teams the maps can produce (one SNS subscription filter each)
    assert rules.teams() == ("accounts", "billing", "care", "escalations", "orders", "social")
    assert rules.high_reach_followers == 10_000
    assert dict(rules.sla_minutes) == {"p1": 15, "complaint": 30, "default": 60}


@pytest.mark.parametrize(("topic", "team"), [
    ("refund", "billing"), ("invoice", "billing"), ("payment", "billing"), ("cancellation_fee", "billing"),
    ("order", "orders"), ("delivery", "orders"), ("shipping_address", "orders"), ("account", "accounts"),
    ("contact", "care"), ("feedback", "care"), ("newsletter", "care"), ("other", "care"),
])
def test_topics_route_to_their_teams(topic, team):
    # Given a p3 question about a topic
    result = route({"priority": "p3", "intent": "question", "topic": topic}, CREATED)
    # Then the topic's team gets it, and the reasons say why
    assert result.team == team
    assert f"team {team}: topic {topic}" in result.reasons


def test_priority_and_intent_rules_come_before_topics():
    # Given a p1 refund mention and a praise mention about an order
    p1 = route({"priority": "p1", "intent": "complaint", "topic": "refund"}, CREATED)
    praise = route({"priority": "p4", "intent": "praise", "topic": "order"}, CREATED)
    # Then p1 goes to escalations and praise to social
    assert (p1.team, praise.team) == ("escalations", "social")


def test_dict_override_deep_merges_over_the_shipped_rules():
    # Given an override that adds a Spanish team and a WhatsApp team
    rules = load_rules({
        "teams": {"care_es": "Spanish care", "messaging": "Private messaging"},
        "language_teams": {"es": "care_es"},
        "platform_teams": {"whatsapp": "messaging"},
    })
    # Then the new teams are reachable and the shipped maps are still there
    assert {"care_es", "messaging", "billing", "orders"} <= set(rules.teams())
    assert rules.topic_teams["refund"] == "billing"
    spanish_refund = {"priority": "p3", "intent": "question", "topic": "refund", "language": "es"}
    assert route(spanish_refund, CREATED).team == "billing"
    assert route(spanish_refund, CREATED, rules).team == "care_es"
    whatsapp = {"priority": "p3", "intent": "question", "topic": "refund", "language": "en", "channel": "whatsapp"}
    assert route(whatsapp, CREATED, rules).team == "messaging"


def test_null_removes_a_rule_and_precedence_is_configurable():
    # Given an override that removes praise → social
    rules = load_rules({"intent_teams": {"praise": None}})
    # Then praise about an order goes to orders, while feedback still goes to social
    assert route({"priority": "p4", "intent": "praise", "topic": "order"}, CREATED, rules).team == "orders"
    assert route({"priority": "p4", "intent": "feedback", "topic": "order"}, CREATED, rules).team == "social"
    # Given topics first: every topic has a team, so p1 and intent rules can no longer apply
    rules = load_rules({"precedence": ["topic", "priority", "intent"]})
    assert route({"priority": "p1", "intent": "complaint", "topic": "order"}, CREATED, rules).team == "orders"
    # Then teams() no longer lists the teams that cannot be reached
    assert rules.teams() == ("accounts", "billing", "care", "orders")


def test_rules_load_from_json_text_and_from_a_path(tmp_path):
    # Given the same override as JSON text and as a file
    override = {"sla_minutes": {"p2": 20}, "vip": {"handles": ["Chef"]}}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(override), encoding="utf-8")
    # Then both give the same rules
    for rules in (load_rules(json.dumps(override)), load_rules(path), load_rules(str(path))):
        assert rules.sla_minutes["p2"] == 20 and rules.sla_minutes["p1"] == 15
        assert rules.is_vip({"id": "1", "handle": "@chef"})


@pytest.mark.parametrize(("override", "names"), [
    ({"topic_teams": {"refund": "biling"}}, "topic_teams.refund"),
    ({"topic_teams": {"refnd": "billing"}}, "topic_teams.refnd"),
    ({"intent_teams": {"rant": "care"}}, "intent_teams.rant"),
    ({"priority_overrides": {"p0": "escalations"}}, "priority_overrides.p0"),
    ({"language_teams": {"spanish": "care"}}, "language_teams.spanish"),
    ({"platform_teams": {"tiktok": "care"}}, "platform_teams.tiktok"),
    ({"sla_minutes": {"p1": 0}}, "sla_minutes.p1"),
    ({"sla_minutes": {"p1": "15"}}, "sla_minutes.p1"),
    ({"sla_minutes": {"default": None}}, "sla_minutes.default"),
    ({"high_reach_followers": -5}, "high_reach_followers"),
    ({"vip": {"ids": "42"}}, "vip.ids"),
    ({"teamz": {}}, "teamz"),
    ({"teams": {"bad team!": "x"}}, "teams.bad team!"),
    ({"default_team": "nobody"}, "default_team"),
    ({"precedence": ["topic", "mood"]}, "precedence"),
])
def test_invalid_rules_name_the_bad_key(override, names):
    # Given an override with one mistake
    # When the rules are loaded
    # Then the error names the key at fault
    with pytest.raises(RoutingRulesError, match=re.escape(names)):
        load_rules(override)


def test_unreadable_or_invalid_rule_files_are_clear_errors(tmp_path):
    # Given a file that is not JSON, a missing file and a file holding a list
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    listing = tmp_path / "list.json"
    listing.write_text("[1]", encoding="utf-8")
    # Then each is a RoutingRulesError that says what is wrong
    with pytest.raises(RoutingRulesError, match="not valid JSON"):
        load_rules(broken)
    with pytest.raises(RoutingRulesError, match="cannot read"):
        load_rules(tmp_path / "missing.json")
    with pytest.raises(RoutingRulesError, match="JSON object"):
        load_rules(listing)
    with pytest.raises(RoutingRulesError, match="not valid JSON"):
        load_rules('{"teams": ')


# --- SLA ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("classification", "minutes", "due"), [
    ({"priority": "p1", "intent": "complaint", "topic": "other"}, 15, "2026-10-02T09:30:30Z"),
    ({"priority": "p2", "intent": "complaint", "topic": "order"}, 30, "2026-10-02T09:45:30Z"),
    ({"priority": "p3", "intent": "question", "topic": "order"}, 60, "2026-10-02T10:15:30Z"),
    ({"priority": "p4", "intent": "praise", "topic": "other"}, 60, "2026-10-02T10:15:30Z"),
])
def test_sla_due_is_computed_from_created_at(classification, minutes, due):
    # Given a mention created at 09:15:30 UTC
    result = route(classification, CREATED)
    # Then the strictest matching SLA applies and the due time is ISO 8601 UTC with Z
    assert (result.sla_minutes, result.sla_due) == (minutes, due)


def test_sla_accepts_datetimes_and_offsets():
    # Given the same moment as an aware datetime, a naive (UTC) datetime and an offset string
    p1 = {"priority": "p1", "intent": "complaint", "topic": "other"}
    aware = datetime(2026, 12, 31, 23, 50, tzinfo=timezone.utc)
    # Then the due time is the same, rolls over midnight, and is written in UTC
    assert route(p1, aware).sla_due == "2027-01-01T00:05:00Z"
    assert route(p1, aware.replace(tzinfo=None)).sla_due == "2027-01-01T00:05:00Z"
    assert route(p1, "2027-01-01T01:50:00+02:00").sla_due == "2027-01-01T00:05:00Z"
    assert route(p1, aware.astimezone(timezone(timedelta(hours=-5)))).sla_due == "2027-01-01T00:05:00Z"
    with pytest.raises(ValueError, match="ISO 8601"):
        route(p1, "yesterday")


def test_sla_keys_can_name_topics_and_the_smallest_wins():
    rules = load_rules({"sla_minutes": {"payment": 20, "p3": 45}})
    result = route({"priority": "p3", "intent": "question", "topic": "payment"}, CREATED, rules)
    assert (result.sla_minutes, result.reasons[-1]) == (20, "sla 20 min: payment")


def test_route_takes_a_classification_object():
    # Given a classified crisis mention
    classification = classify("@acme the heater you sold me caught fire", channel="x")
    # When it is routed
    result = route(classification, CREATED)
    # Then it goes to escalations within 15 minutes
    assert result.to_dict() == {"team": "escalations", "priority": "p1", "sla_minutes": 15,
                                "sla_due": "2026-10-02T09:30:30Z",
                                "reasons": ["team escalations: priority p1", "sla 15 min: p1"]}
