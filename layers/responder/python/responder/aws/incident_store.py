"""Surge state in the same DynamoDB table: counters, incidents, their members.

Items (pk / sk):
- `COUNTER#<account>#<shard>` / `MINUTE#<bucket>`: one-minute counts, `total` and one attribute per topic
  (`t_<topic>`), incremented atomically, expiring after two hours; write-sharded (COUNTER_SHARDS items per minute)
  so that a surge's increments do not all fall on one item, and summed on reading. Deployed, the dispatcher adds
  each batch's triaged mentions in one increment per minute (`add_counts`): a mention is counted once, when its
  triage succeeded; `count` adds one mention at a time (the in-process replays of bench/surge_bench.py).
- `INCIDENT#<account>` / `<incident id>`: the incident: status, signature, size, first/last seen, samples,
  sentiment mix, the next digest size, the alerts sent. It expires the retention period after it opened.
- `INCIDENT#<account>` / `<incident id>#MODEL`: the incident's cluster model (responder.surge.incidents.cluster_model:
  a few hundred bytes of term weights), apart from the incident: every member's join updates the incident's counters,
  billed on the item's size (one write unit per started KB), and the model put the incident over 1 KB. Written when
  the incident opens and when its signature is refreshed; read with the open incidents, in the same query.
- `INCIDENT#<incident id>` / `MEMBER#<channel>#<mention id>`: one per member (so "all members" is one query
  and a retried mention is counted once), expiring the retention period after it joined.
- `MENTION#<channel>#<mention id>` / `INCIDENT`: the one incident the mention is a member of (written with its
  member item, guarded so that a mention never joins two incidents).
- `DETECT#<account>#<scope>` / `DETECT`: the detector's cooldown: whoever writes it first opens the incident.
Recent mentions of an account are read through `gsi2` (`ACCOUNT#<account>#<shard>`, received time: the current
shards only).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from responder.surge.incidents import BUCKET_SECONDS, SurgeSettings, bucket
from responder.aws.storage import (ACCOUNT_SHARDS, DynamoMentionStore, _error_code, _shard,
                                   _storage_error, current_account_partitions, mention_key)

COUNTER_TTL_SECONDS = 2 * 3600
_SHARD_PICKS = random.Random()  # its own generator: the global one belongs to the caller (see aws.json_api's _JITTER)
# One item takes at most 1,000 write units per second. Deployed, a minute's item takes one increment per dispatcher
# batch (up to 10 mentions), not one per mention: two items per minute hold ~20,000 mentions/s (bench/scale_model.py),
# and every Classify reads them all (one query each, at least half a read unit: with eight shards, when each mention
# incremented its own, the reads were 1.7 units per mention). Upgrading from eight: for the counting window after the
# deploy (63 minutes) the minutes counted in shards 2-7 before it are not read, a lower baseline for that hour.
COUNTER_SHARDS = 2
MEMBERSHIP_SORT_KEY = "INCIDENT"
MODEL_SUFFIX = "#MODEL"
_OPEN_CACHE_SECONDS = 2.0


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class IncidentStore:
    """The DynamoDB side of surge handling, sharing the mention store's table and client."""

    def __init__(self, mentions: DynamoMentionStore) -> None:
        self._m = mentions
        self._open_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.clock = time.monotonic  # what the open incidents' cache ages on (a replay sets its own)

    @property
    def _table(self) -> str:
        return self._m._table

    def _client(self) -> Any:
        return self._m.client

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return self._m._item(values)

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return self._m._plain(item)

    def _call(self, fn: Any, **kwargs: Any) -> dict[str, Any]:
        return self._m._call(fn, **kwargs)

    # -- counters and detection ---------------------------------------------------------------------------

    def count(self, account_id: str, topic: str, at: datetime, mention: dict[str, Any] | None = None) -> bool:
        """Add one mention to the account's minute bucket, in total and for its topic; False when not counted because
        this is a retried triage attempt.

        One plain increment (one write unit). A mention is counted at most once: only by its first triage attempt
        (`triage_attempts`, which the triage claim increments, is 1 or absent). A retry (Step Functions retrying
        Classify, a redelivered message) counts nothing, whether or not the failed attempt got as far as counting:
        the minute may miss the mentions whose first attempt failed before its count, never count one twice. (The
        layout before guarded each count with a marker item in a transaction: four write units per mention, as
        DynamoDB bills a transaction's every item twice, to be exact about the rare retry.)
        """
        if mention is not None and int(mention.get("triage_attempts") or 1) > 1:
            return False
        b = bucket(at)
        # The mention's own shard (any would do; the id spreads a surge evenly over the shards).
        shard = _shard(mention["channel"], mention["mention_id"], COUNTER_SHARDS) if mention is not None else \
            _SHARD_PICKS.randrange(COUNTER_SHARDS)
        self._call(self._client().update_item, TableName=self._table,
                   Key=self._item({"pk": f"COUNTER#{account_id}#{shard}", "sk": f"MINUTE#{b:012d}"}),
                   UpdateExpression="ADD #total :one, #topic :one SET expires_at = :ttl",
                   ExpressionAttributeNames={"#total": "total", "#topic": f"t_{topic}"},
                   ExpressionAttributeValues=self._item({":one": 1,
                                                         ":ttl": b * BUCKET_SECONDS + COUNTER_TTL_SECONDS}))
        return True

    def add_counts(self, account_id: str, tallies: dict[int, dict[str, int]]) -> int:
        """Add a batch's tallies (minute bucket → topic → mentions) to the account's minute counters: one increment
        per minute, whatever the number of mentions and topics in it (the dispatcher's batch: see
        responder.triage.dispatch). Each batch picks a shard at random, so concurrent dispatchers spread over the
        shards. Returns the number of writes."""
        shard = _SHARD_PICKS.randrange(COUNTER_SHARDS)
        writes = 0
        for b, per_topic in sorted(tallies.items()):
            per_topic = {t: n for t, n in per_topic.items() if n > 0}
            if not per_topic:
                continue
            names = {"#total": "total", **{f"#t{i}": f"t_{t}" for i, t in enumerate(sorted(per_topic))}}
            values = {":total": sum(per_topic.values()), ":ttl": b * BUCKET_SECONDS + COUNTER_TTL_SECONDS,
                      **{f":t{i}": per_topic[t] for i, t in enumerate(sorted(per_topic))}}
            adds = ", ".join(["#total :total"] + [f"#t{i} :t{i}" for i in range(len(per_topic))])
            self._call(self._client().update_item, TableName=self._table,
                       Key=self._item({"pk": f"COUNTER#{account_id}#{shard}", "sk": f"MINUTE#{b:012d}"}),
                       UpdateExpression=f"ADD {adds} SET expires_at = :ttl",
                       ExpressionAttributeNames=names, ExpressionAttributeValues=self._item(values))
            writes += 1
        return writes

    def counts(self, account_id: str, now: datetime, settings: SurgeSettings) -> dict[str, dict[int, int]]:
        """scope ("all" or a topic) → bucket → count, over the baseline and recent windows."""
        current = bucket(now)
        first = current - settings.recent_minutes - settings.baseline_minutes + 1
        scopes: dict[str, dict[int, int]] = {}
        # Every shard, and the unsharded item counters had before (gone two hours after an upgrade).
        for pk in [f"COUNTER#{account_id}"] + [f"COUNTER#{account_id}#{s}" for s in range(COUNTER_SHARDS)]:
            answer = self._call(self._client().query, TableName=self._table,
                                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                                ExpressionAttributeValues=self._item({":pk": pk, ":a": f"MINUTE#{first:012d}",
                                                                      ":b": f"MINUTE#{current:012d}"}))
            for raw in answer.get("Items", []):
                item = self._plain(raw)
                b = int(item["sk"].split("#", 1)[1])
                for name, value in item.items():
                    scope = "all" if name == "total" else name[2:] if name.startswith("t_") else None
                    if scope is not None:
                        per_bucket = scopes.setdefault(scope, {})
                        per_bucket[b] = per_bucket.get(b, 0) + int(value)
        return scopes

    def recent_mentions(self, account_id: str, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """The account's mentions received since `since` (newest first), through gsi2: at most `limit`.

        Each shard gives its newest limit/ACCOUNT_SHARDS (a mention's shard is a hash of its id, so each holds an
        even share of the window): a surge's newest mentions, read in as many units as one partition's were. Only the
        shards mentions are listed in now are read (one Query each, per refresh of the clustering window): for one
        window's length after an upgrade from more shards, the mentions listed before it under the others are missed
        (a quarter of the window's entries, under 16 shards, are in the four read)."""
        per_shard = -(-limit // ACCOUNT_SHARDS)
        found: list[dict[str, Any]] = []
        for pk in current_account_partitions(account_id):
            answer = self._call(self._client().query, TableName=self._table, IndexName="gsi2",
                                KeyConditionExpression="gsi2pk = :pk AND gsi2sk >= :since",
                                ExpressionAttributeValues=self._item({":pk": pk, ":since": _iso(since)}),
                                ScanIndexForward=False, Limit=per_shard)
            found.extend(self._plain(i) for i in answer.get("Items", []))
        found.sort(key=lambda m: str(m.get("gsi2sk", "")), reverse=True)
        return found[:limit]

    def sentiment(self, mention: dict[str, Any]) -> str:
        """A recent mention's sentiment as triage recorded it, or `unknown`: gsi2 does not project it (triage's
        update would write the index again for every mention), so it is read from the mention when an incident
        takes in the mentions that made its spike."""
        if mention.get("sentiment"):
            return str(mention["sentiment"])
        item = self._call(self._client().get_item, TableName=self._table, ProjectionExpression="sentiment",
                          Key=self._item(mention_key(str(mention["channel"]), str(mention["mention_id"]))))
        return str(self._plain(item.get("Item") or {}).get("sentiment") or "unknown")

    # -- incidents -----------------------------------------------------------------------------------

    def open_incidents(self, account_id: str, fresh: bool = False, now: datetime | None = None,
                       quiet_minutes: int = 30) -> list[dict[str, Any]]:
        """Open incidents (cached for two seconds: read on every mention of a surge); an incident quiet for
        `quiet_minutes` counts as closed and is marked so."""
        cached = self._open_cache.get(account_id)
        if cached and not fresh and self.clock() - cached[0] < _OPEN_CACHE_SECONDS:
            return cached[1]
        answer = self._call(self._client().query, TableName=self._table, KeyConditionExpression="pk = :pk",
                            FilterExpression="incident_status = :open OR #type = :model", ConsistentRead=True,
                            ExpressionAttributeNames={"#type": "type"},
                            ExpressionAttributeValues=self._item({":pk": f"INCIDENT#{account_id}", ":open": "open",
                                                                  ":model": "incident_model"}))
        items = [self._plain(i) for i in answer.get("Items", [])]
        models = {str(i["sk"]).removesuffix(MODEL_SUFFIX): i.get("model") or {} for i in items
                  if i.get("type") == "incident_model"}
        # An incident opened before models were kept apart holds its own (`model` on the incident item).
        incidents = [{**i, "model": models.get(str(i.get("incident_id")), i.get("model") or {})} for i in items
                     if i.get("type") != "incident_model"]
        cutoff = _iso((now or datetime.now(timezone.utc)) - timedelta(minutes=quiet_minutes))
        for incident in [i for i in incidents if i.get("last_seen_at", "") < cutoff]:
            self._call(self._client().update_item, TableName=self._table,
                       Key=self._item({"pk": f"INCIDENT#{account_id}", "sk": incident["incident_id"]}),
                       UpdateExpression="SET incident_status = :closed, closed_at = :at",
                       ExpressionAttributeValues=self._item({":closed": "closed", ":at": _iso(now or datetime.now(
                           timezone.utc))}))
            incidents.remove(incident)
        self._open_cache[account_id] = (self.clock(), incidents)
        return incidents

    def try_open(self, account_id: str, scope: str, incident: dict[str, Any], now: datetime,
                 settings: SurgeSettings) -> bool:
        """Open `incident` unless the detector for this account and scope is cooling down (one writer wins)."""
        until = int((now + timedelta(seconds=settings.cooldown_seconds)).timestamp())
        incident = dict(incident)
        model = incident.pop("model", None) or {}
        # The model is written in the same transaction: an open incident always has the model it opened with.
        model_put = [{"Put": {"TableName": self._table,
                              "Item": self._model_item(account_id, incident["incident_id"], model, now)}}]
        try:
            self._client().transact_write_items(TransactItems=model_put + [
                {"Put": {"TableName": self._table,
                         "Item": self._item({"pk": f"DETECT#{account_id}#{scope}", "sk": "DETECT",
                                             "cooldown_until": until, "incident_id": incident["incident_id"],
                                             "expires_at": until + 86_400}),
                         "ConditionExpression": "attribute_not_exists(pk) OR cooldown_until < :now",
                         "ExpressionAttributeValues": self._item({":now": int(now.timestamp())})}},
                {"Put": {"TableName": self._table,
                         "Item": self._item({"pk": f"INCIDENT#{account_id}", "sk": incident["incident_id"],
                                             "type": "incident", **incident,
                                             "expires_at": self._m.expires_at(now)}),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except Exception as exc:  # noqa: BLE001 - losing the race is an answer; anything else is raised
            if _error_code(exc) == "TransactionCanceledException":
                return False
            raise _storage_error(exc) from exc
        self._open_cache.pop(account_id, None)
        return True

    def join(self, incident: dict[str, Any], mention: dict[str, Any], sentiment: str, now: datetime,
             settings: SurgeSettings) -> dict[str, Any] | None:
        """Add a member (once) and return the incident's new counters, or None when it was already a member of
        this incident or of another one (`incident_of` says which)."""
        account, incident_id = incident["account_id"], incident["incident_id"]
        member = {"pk": f"INCIDENT#{incident_id}", "sk": f"MEMBER#{mention['channel']}#{mention['mention_id']}",
                  "type": "incident_member", "mention_id": mention["mention_id"], "channel": mention["channel"],
                  "joined_at": _iso(now), "expires_at": self._m.expires_at(now)}
        update = {"TableName": self._table, "Key": self._item({"pk": f"INCIDENT#{account}", "sk": incident_id}),
                  "UpdateExpression": ("ADD size :one, #sentiment :one SET last_seen_at = :at"),
                  "ExpressionAttributeNames": {"#sentiment": f"sentiment_{sentiment}"},
                  "ExpressionAttributeValues": self._item({":one": 1, ":at": _iso(now)})}
        # A mention belongs to one incident: its claim, keyed by the mention, names the incident it joined first, so a
        # mention gathered by one incident while it waited in the queue does not join another when triaged. Then the
        # member, guarded by its absence, then the counters: three plain writes of small items (one unit each), where
        # one transaction of the three bills six. A run that dies between them is completed by its retry (the claim
        # lets its own incident through) except for the counters: `size` and the sentiment mix count each member at
        # most once; `members` lists them all; a retry never adds one twice.
        # Read first (a read unit costs a fifth of a write unit): a mention gathered while it waited in the queue is
        # joined again when triaged, and two refused writes would bill two write units.
        owner = self.incident_of(mention)
        if owner is not None and (owner != incident_id or self._is_member(incident_id, mention)):
            return None
        claim = {"pk": mention_key(mention["channel"], mention["mention_id"])["pk"], "sk": MEMBERSHIP_SORT_KEY,
                 "type": "incident_claim", "incident_id": incident_id, "expires_at": self._m.expires_at(now)}
        writes = [] if owner == incident_id else [
            (claim, "attribute_not_exists(pk) OR incident_id = :incident", {":incident": incident_id})]
        for item, condition, values in writes + [(member, "attribute_not_exists(pk)", None)]:
            try:
                self._client().put_item(TableName=self._table, Item=self._item(item), ConditionExpression=condition,
                                        **({"ExpressionAttributeValues": self._item(values)} if values else {}))
            except Exception as exc:  # noqa: BLE001 - another incident's member, or already a member: an answer
                if _error_code(exc) == "ConditionalCheckFailedException":
                    return None
                raise _storage_error(exc) from exc
        self._call(self._client().update_item, **update)
        item = self._call(self._client().get_item, TableName=self._table, ConsistentRead=True,
                          Key=self._item({"pk": f"INCIDENT#{account}", "sk": incident_id}),
                          ProjectionExpression="size, next_digest, sample_mention_ids").get("Item", {})
        state = self._plain(item)
        if len(state.get("sample_mention_ids") or []) < settings.sample_size:
            try:
                self._client().update_item(
                    TableName=self._table, Key=self._item({"pk": f"INCIDENT#{account}", "sk": incident_id}),
                    UpdateExpression="SET sample_mention_ids = list_append(sample_mention_ids, :id)",
                    ConditionExpression="size(sample_mention_ids) < :max",
                    ExpressionAttributeValues=self._item({":id": [mention["mention_id"]],
                                                          ":max": settings.sample_size}))
            except Exception as exc:  # noqa: BLE001 - samples already full: nothing to add
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise _storage_error(exc) from exc
        return state

    def _is_member(self, incident_id: str, mention: dict[str, Any]) -> bool:
        key = {"pk": f"INCIDENT#{incident_id}", "sk": f"MEMBER#{mention['channel']}#{mention['mention_id']}"}
        return "Item" in self._call(self._client().get_item, TableName=self._table, ConsistentRead=True,
                                    Key=self._item(key), ProjectionExpression="pk")

    def incident_of(self, mention: dict[str, Any]) -> str | None:
        """The incident a mention joined, if any (its membership claim)."""
        item = self._call(self._client().get_item, TableName=self._table, ConsistentRead=True,
                          Key=self._item({"pk": mention_key(mention["channel"], mention["mention_id"])["pk"],
                                          "sk": MEMBERSHIP_SORT_KEY}),
                          ProjectionExpression="incident_id").get("Item")
        return str(self._plain(item)["incident_id"]) if item else None

    def claim_digest(self, incident: dict[str, Any], size: int, current_next: int, new_next: int) -> bool:
        """Move the next-digest mark forward; True for the one writer that does it (it sends the digest)."""
        try:
            self._client().update_item(
                TableName=self._table, Key=self._item({"pk": f"INCIDENT#{incident['account_id']}",
                                                       "sk": incident["incident_id"]}),
                UpdateExpression="SET next_digest = :new", ConditionExpression="next_digest = :old",
                ExpressionAttributeValues=self._item({":new": new_next, ":old": current_next}))
        except Exception as exc:  # noqa: BLE001 - another member already claimed this digest
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _storage_error(exc) from exc
        return True

    def set_signature(self, incident: dict[str, Any], signature: dict[str, float],
                      model: dict[str, Any] | None = None) -> None:
        """Replace an incident's signature and its model (refreshed from its members)."""
        now = datetime.now(timezone.utc)
        self._call(self._client().put_item, TableName=self._table,
                   Item=self._model_item(incident["account_id"], incident["incident_id"], model or {}, now))
        self._call(self._client().update_item, TableName=self._table,
                   Key=self._item({"pk": f"INCIDENT#{incident['account_id']}", "sk": incident["incident_id"]}),
                   UpdateExpression="SET signature = :sig REMOVE model",
                   ExpressionAttributeValues=self._item({":sig": signature}))
        self._open_cache.pop(incident["account_id"], None)

    def _model_item(self, account_id: str, incident_id: str, model: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The incident's model item (its own expiry from `now`: at least as late as the incident's)."""
        return self._item({"pk": f"INCIDENT#{account_id}", "sk": f"{incident_id}{MODEL_SUFFIX}",
                           "type": "incident_model", "model": model, "expires_at": self._m.expires_at(now)})

    def get(self, account_id: str, incident_id: str) -> dict[str, Any] | None:
        item = self._call(self._client().get_item, TableName=self._table, ConsistentRead=True,
                          Key=self._item({"pk": f"INCIDENT#{account_id}", "sk": incident_id})).get("Item")
        return self._plain(item) if item else None

    def members(self, incident_id: str) -> list[dict[str, Any]]:
        pages = self._client().get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=self._item({":pk": f"INCIDENT#{incident_id}"}))
        return [self._plain(i) for page in self._m._pages(pages) for i in page["Items"]]
