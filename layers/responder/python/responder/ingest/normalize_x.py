"""X deliveries (X Activity API envelopes and legacy Account Activity bodies) → Mentions.

XAA: https://docs.x.com/x-api/activity/introduction — `{"data": {"event_uuid", "filter", "event_type", "payload",
"includes"}}` with v2 Post objects. AAA (end of life 2027-01-01): `for_user_id` + `tweet_create_events` (v1.1
Tweets) or `direct_message_events` with `users`.

Delete notices (XAA `post.delete` `{id, author_id}`, AAA `tweet_delete_events` `{status: {id, user_id},
timestamp_ms}`) become Deletions: X's developer policy asks for stored content to be deleted within 24 hours. X pushes
them for the subscribed account's own posts only; other people's deletions need X's batch compliance endpoints.

The brand's own replies are native answers (responder.replies.native marks the mentions they answer): XAA
`post.create` by the filtered user with `in_reply_to_tweet_id` / `referenced_tweets` replied_to, and `dm.sent`;
AAA `tweet_create_events` by `for_user_id` with `in_reply_to_status_id_str`, and `direct_message_events` it sent.
X pushes only the subscribed account's own events: a reply posted from another account of the brand is not seen.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from responder.core.model import (
    Attachment,
    Author,
    Delivery,
    Deletion,
    MalformedDelivery,
    Mention,
    NativeAnswer,
    ThreadLink,
    check_id,
    label,
)

XAA_KINDS = {
    "post.mention.create": "mention",
    "post.reply.create": "reply",
    "post.quote.create": "quote",
    "dm.received": "dm",
    "dm.sent": "dm",  # the brand's own DMs: native answers to the conversation (see _dm_events)
}


def normalize_x(body: Any) -> Delivery:
    """Normalise one parsed X webhook body; unknown or uninteresting events are listed as ignored."""
    if not isinstance(body, dict):
        raise MalformedDelivery("X delivery must be a JSON object")
    if isinstance(body.get("data"), dict) and "event_type" in body["data"]:
        return _normalize_xaa(body["data"])
    if "for_user_id" in body:
        return _normalize_aaa(body)
    return Delivery(mentions=(), ignored=("unrecognised X body: " + ",".join(label(k) for k in sorted(body)[:5]),))


# --- shared helpers ---------------------------------------------------------------------------------


def _req(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or obj.get(key) in (None, ""):
        raise MalformedDelivery(f"{where}: missing {key}")
    return obj[key]


def _str_id(obj: dict[str, Any], key: str, where: str) -> str:
    if key.endswith("_str") and isinstance(obj, dict) and obj.get(key) in (None, ""):
        key = key[:-4]  # v1.1 objects: fall back to the numeric id (Python parses big JSON integers exactly)
    value = _req(obj, key, where)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise MalformedDelivery(f"{where}: {key} must be a string id")
    return str(value)


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise MalformedDelivery(f"{where}: {key} must be a list")
    return value


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_from_v2(value: Any, where: str) -> str:
    try:
        return _iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError as exc:
        raise MalformedDelivery(f"{where}: created_at is not a date") from exc


def _iso_from_v1(value: Any, where: str) -> str:
    try:
        return _iso(datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y"))
    except ValueError as exc:
        raise MalformedDelivery(f"{where}: created_at is not a date") from exc


def _iso_from_millis(value: Any, where: str) -> str:
    try:
        return _iso(datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc))
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedDelivery(f"{where}: timestamp is not a time") from exc


def _lang(value: Any) -> str | None:
    # X marks undetermined language as "und"; that is no hint at all.
    return value if isinstance(value, str) and value and value != "und" else None


def dm_conversation_id(a: str, b: str) -> str:
    """X's one-to-one DM conversation id: the two user ids, smaller first, joined by '-'."""
    low, high = sorted((a, b), key=lambda v: (len(v), v))
    return f"{low}-{high}"


def _unwrap(user: Any) -> Any:
    return user["data"] if isinstance(user, dict) and isinstance(user.get("data"), dict) else user


def _text(value: Any) -> str | None:
    """A string field as a string (names sometimes arrive as numbers), or None when absent."""
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# --- X Activity API -----------------------------------------------------------------------------------


def _normalize_xaa(data: dict[str, Any]) -> Delivery:
    event_type = data.get("event_type")
    if event_type == "post.delete":
        return _xaa_delete(data)
    kind = XAA_KINDS.get(event_type) if isinstance(event_type, str) else None
    if kind is None and event_type != "post.create":
        return Delivery(mentions=(), ignored=(f"xaa {label(event_type)}",))
    account_id = check_id(_str_id(_req(data, "filter", "xaa"), "user_id", "xaa filter"), "xaa filter user_id")
    payload = _req(data, "payload", f"xaa {label(event_type)}")
    if not isinstance(payload, dict):
        raise MalformedDelivery(f"xaa {label(event_type)}: payload must be an object")
    if kind is None:  # post.create: the brand's own post, kept so replies to it find their thread
        return _brand_post(payload, account_id, "xaa post.create by the brand")
    event_id = str(data["event_uuid"]) if data.get("event_uuid") is not None else None
    if kind == "dm":
        users = payload.get("users") or {}
        events = _list(payload, "direct_message_events", "xaa dm.received")
        # Each DM's audit copy holds its own event and its own sender only, never its neighbours' private text.
        envelope = {k: data[k] for k in ("event_uuid", "filter", "event_type", "tag") if k in data}
        return _dm_events(events, users, account_id, source="xaa", event_id=event_id, envelope=envelope)
    includes = data.get("includes") if isinstance(data.get("includes"), dict) else {}
    mention = _v2_post(payload, includes, kind, account_id, event_id, raw={"data": data})
    if mention is None:
        return _brand_post(payload, account_id, f"xaa {label(event_type)} by the brand itself")
    return Delivery(mentions=(mention,))


def _xaa_delete(data: dict[str, Any]) -> Delivery:
    """`post.delete` (`payload: {id, author_id}`): the post is erased wherever it is stored."""
    check_id(_str_id(_req(data, "filter", "xaa"), "user_id", "xaa filter"), "xaa filter user_id")
    payload = _req(data, "payload", "xaa post.delete")
    where = "xaa post.delete"
    return Delivery(mentions=(), deletions=(Deletion(
        channel="x", mention_id=check_id(_str_id(payload, "id", where), f"{where} id"), source="x.post_delete",
        author_id=check_id(_str_id(payload, "author_id", where), f"{where} author_id")),))


def _tweet_deletes(events: list[Any]) -> list[Deletion]:
    """`tweet_delete_events` (`{status: {id, user_id}, timestamp_ms}`) → deletions."""
    deletions = []
    for event in events:
        where = "aaa tweet_delete_event"
        if not isinstance(event, dict):
            raise MalformedDelivery(f"{where}: must be an object")
        status = _req(event, "status", where)
        deleted_at = event.get("timestamp_ms")
        deletions.append(Deletion(
            channel="x", mention_id=check_id(_str_id(status, "id", where), f"{where} id"), source="x.tweet_delete",
            author_id=check_id(_str_id(status, "user_id", where), f"{where} user_id"),
            at=_iso_from_millis(deleted_at, where) if deleted_at not in (None, "") else None))
    return deletions


def _brand_post(post: dict[str, Any], account_id: str, description: str) -> Delivery:
    """The brand's own post: a thread link, and a native answer to the post it replies to (if any)."""
    link = _v2_link(post, account_id)
    answer = _v2_answer(post, account_id)
    return Delivery(mentions=(), ignored=() if answer else (description,), links=(link,) if link else (),
                    answers=(answer,) if answer else ())


def _v2_answer(post: dict[str, Any], account_id: str) -> NativeAnswer | None:
    """A v2 Post by the brand replying to another post: the answer to that post."""
    if str(post.get("author_id")) != account_id or not post.get("id"):
        return None
    refs = {r.get("type"): r.get("id") for r in post.get("referenced_tweets") or [] if isinstance(r, dict)}
    parent = post.get("in_reply_to_tweet_id") or refs.get("replied_to")
    if not parent or isinstance(parent, (dict, list, bool)):
        return None
    note = post.get("note_tweet")
    text = note["text"] if isinstance(note, dict) and isinstance(note.get("text"), str) else post.get("text")
    return NativeAnswer(channel="x", reply_id=check_id(str(post["id"]), "xaa post id"),
                        text=text if isinstance(text, str) else "",
                        at=_optional_time(_iso_from_v2, post.get("created_at")),
                        mention_id=check_id(str(parent), "xaa in_reply_to_tweet_id"))


def _optional_time(parse: Any, value: Any) -> str | None:
    """When the brand replied, if the event says so (the marker uses the time it was received otherwise)."""
    if value in (None, ""):
        return None
    try:
        return parse(value, "answer")
    except MalformedDelivery:
        return None


def _v2_link(post: dict[str, Any], account_id: str) -> ThreadLink | None:
    if str(post.get("author_id")) != account_id or not post.get("id"):
        return None
    post_id = str(post["id"])
    parent = post.get("in_reply_to_tweet_id")
    return ThreadLink(channel="x", post_id=post_id, thread_id=str(post.get("conversation_id") or post_id),
                      parent_id=str(parent) if parent else None)


def _v2_post(post: dict[str, Any], includes: dict[str, Any], kind: str, account_id: str,
             event_id: str | None, raw: dict[str, Any]) -> Mention | None:
    where = "xaa post"
    post_id = _str_id(post, "id", where)
    author_id = _str_id(post, "author_id", where)
    if author_id == account_id:
        return None
    text = post.get("text")
    if not isinstance(text, str):
        raise MalformedDelivery(f"{where}: missing text")
    note = post.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        text = note["text"]  # long posts: `text` is a truncated preview
    refs = {r.get("type"): str(r.get("id")) for r in post.get("referenced_tweets") or [] if isinstance(r, dict)}
    parent = post.get("in_reply_to_tweet_id") or refs.get("replied_to")
    if kind == "quote":
        parent = parent or refs.get("quoted")
    # Some payloads wrap each included user as {"data": {...}}, as dm.received does.
    users = {str(u.get("id")): u for u in (_unwrap(u) for u in includes.get("users") or []) if isinstance(u, dict)}
    user = users.get(author_id, {})
    metrics = user.get("public_metrics") or {}
    media = {m.get("media_key"): m for m in includes.get("media") or [] if isinstance(m, dict)}
    attachments = []
    for key in (post.get("attachments") or {}).get("media_keys") or []:
        item = media.get(key, {})
        attachments.append(Attachment(type=item.get("type", "media"), id=str(key),
                                      url=item.get("url") or item.get("preview_image_url")))
    if (post.get("attachments") or {}).get("poll_ids"):
        attachments.append(Attachment(type="poll", id=str(post["attachments"]["poll_ids"][0])))
    if kind == "quote" and refs.get("quoted"):
        attachments.append(Attachment(type="quoted_post", id=refs["quoted"]))
    return Mention(
        platform="x", channel="x", kind=kind,  # type: ignore[arg-type]
        mention_id=post_id,
        parent_id=str(parent) if parent else None,
        thread_id=str(post.get("conversation_id") or post_id),
        author=Author(id=author_id, handle=_text(user.get("username")), name=_text(user.get("name")),
                      followers=_int(metrics.get("followers_count")),
                      verified=user.get("verified") if isinstance(user.get("verified"), bool) else None),
        text=text,
        created_at=_iso_from_v2(_req(post, "created_at", where), where),
        account_id=account_id,
        lang=_lang(post.get("lang")),
        attachments=tuple(attachments),
        source="xaa",
        event_id=event_id,
        raw=raw,
    )


# --- Account Activity API (legacy) ---------------------------------------------------------------------


def _normalize_aaa(body: dict[str, Any]) -> Delivery:
    account_id = check_id(_str_id(body, "for_user_id", "aaa"), "aaa for_user_id")
    mentions: list[Mention] = []
    ignored: list[str] = []
    links: list[ThreadLink] = []
    answers: list[NativeAnswer] = []
    for tweet in _list(body, "tweet_create_events", "aaa"):
        mention = _v1_tweet(tweet, account_id)
        if isinstance(mention, Mention):
            mentions.append(mention)
        elif mention and mention.parent_id:  # the brand replying to a post: a native answer to it
            links.append(mention)
            answers.append(_v1_answer(tweet, mention))
        else:
            ignored.append("aaa tweet by the brand" if mention else "aaa repost")
            if mention:
                links.append(mention)
    if "direct_message_events" in body:
        dms = _dm_events(_list(body, "direct_message_events", "aaa"), body.get("users") or {}, account_id,
                         source="aaa", event_id=None, envelope=None)
        mentions.extend(dms.mentions)
        ignored.extend(dms.ignored)
        answers.extend(dms.answers)
    deletions = _tweet_deletes(_list(body, "tweet_delete_events", "aaa"))
    for key in body:
        if key.endswith("_events") and key not in ("tweet_create_events", "direct_message_events",
                                                   "tweet_delete_events"):
            ignored.append(f"aaa {label(key)}")
        elif key == "user_event":
            ignored.append("aaa user_event")
    return Delivery(mentions=tuple(mentions), ignored=tuple(ignored), links=tuple(links), answers=tuple(answers),
                    deletions=tuple(deletions))


def _v1_answer(tweet: dict[str, Any], link: ThreadLink) -> NativeAnswer:
    """A v1.1 Tweet by the brand replying to another Tweet: the answer to it."""
    extended = tweet.get("extended_tweet") if isinstance(tweet.get("extended_tweet"), dict) else {}
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text")
    return NativeAnswer(channel="x", reply_id=link.post_id, text=text if isinstance(text, str) else "",
                        at=_optional_time(_iso_from_v1, tweet.get("created_at")), mention_id=link.parent_id)


def _v1_tweet(tweet: Any, account_id: str) -> Mention | ThreadLink | None:
    """A v1.1 Tweet → a Mention; the brand's own Tweet → a ThreadLink; a repost → None."""
    where = "aaa tweet"
    if not isinstance(tweet, dict):
        raise MalformedDelivery(f"{where}: must be an object")
    tweet_id = _str_id(tweet, "id_str", where)
    user = _req(tweet, "user", where)
    author_id = _str_id(user, "id_str", f"{where} user")
    if tweet.get("retweeted_status"):
        return None
    parent = tweet.get("in_reply_to_status_id_str")
    if author_id == account_id:
        return ThreadLink(channel="x", post_id=tweet_id, thread_id=str(parent or tweet_id),
                          parent_id=str(parent) if parent else None, thread_from_parent=bool(parent))
    extended = tweet.get("extended_tweet") if isinstance(tweet.get("extended_tweet"), dict) else {}
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text")
    if not isinstance(text, str):
        raise MalformedDelivery(f"{where}: missing text")
    quoted_id = tweet.get("quoted_status_id_str")
    quoted_user = ((tweet.get("quoted_status") or {}).get("user") or {}).get("id_str")
    if parent and tweet.get("in_reply_to_user_id_str") == account_id:
        kind = "reply"
    elif quoted_id and quoted_user == account_id:
        kind = "quote"
    else:
        kind = "mention"
    entities = extended.get("extended_entities") or tweet.get("extended_entities") or extended.get("entities") \
        or tweet.get("entities") or {}
    attachments = [Attachment(type=m.get("type", "photo"), id=m.get("id_str"), url=m.get("media_url_https"))
                   for m in entities.get("media") or [] if isinstance(m, dict)]
    if quoted_id:
        attachments.append(Attachment(type="quoted_post", id=str(quoted_id)))
    return Mention(
        platform="x", channel="x", kind=kind,  # type: ignore[arg-type]
        mention_id=tweet_id,
        parent_id=str(parent) if parent else None,
        # v1.1 Tweets carry no conversation id: a reply provisionally joins its parent's thread and
        # storage resolves the parent's root when the parent is known.
        thread_id=str(parent) if parent else tweet_id,
        thread_from_parent=bool(parent),
        author=Author(id=author_id, handle=_text(user.get("screen_name")), name=_text(user.get("name")),
                      followers=_int(user.get("followers_count")),
                      verified=user.get("verified") if isinstance(user.get("verified"), bool) else None),
        text=text,
        created_at=_iso_from_v1(_req(tweet, "created_at", where), where),
        account_id=account_id,
        lang=_lang(tweet.get("lang")),
        attachments=tuple(attachments),
        source="aaa",
        raw={"for_user_id": account_id, "tweet_create_events": [tweet]},
    )


def _dm_raw(envelope: dict[str, Any] | None, account_id: str, event: dict[str, Any],
            users: dict[str, Any]) -> dict[str, Any]:
    """The audit copy of one DM: its event and its sender's profile, in the shape it arrived in."""
    if envelope is None:
        return {"for_user_id": account_id, "direct_message_events": [event], "users": users}
    return {"data": {**envelope, "payload": {"direct_message_events": [event], "users": users}}}


def _dm_events(events: list[Any], users: Any, account_id: str, source: str, event_id: str | None,
               envelope: dict[str, Any] | None) -> Delivery:
    """DM events → Mentions; `envelope` is the X Activity API wrapper (None for the Account Activity API)."""
    mentions: list[Mention] = []
    ignored: list[str] = []
    answers: list[NativeAnswer] = []
    users = users if isinstance(users, dict) else {}
    for event in events:
        where = f"{source} direct_message_event"
        if not isinstance(event, dict):
            raise MalformedDelivery(f"{where}: must be an object")
        if event.get("type") != "message_create":
            ignored.append(f"{source} dm {label(event.get('type'))}")
            continue
        dm_id = _str_id(event, "id", where)
        create = _req(event, "message_create", where)
        sender = _str_id(create, "sender_id", where)
        if sender == account_id:
            # The brand's own DM (sent from the X app, or by Responder and echoed): it answers the conversation.
            target = create.get("target") if isinstance(create.get("target"), dict) else {}
            recipient = _text(target.get("recipient_id"))
            if recipient is None or recipient == account_id:
                ignored.append(f"{source} dm sent by the brand")
                continue
            data = create.get("message_data") if isinstance(create.get("message_data"), dict) else {}
            answers.append(NativeAnswer(
                channel="x", reply_id=check_id(dm_id, f"{where} id"),
                text=data["text"] if isinstance(data.get("text"), str) else "",
                at=_optional_time(_iso_from_millis, event.get("created_timestamp")),
                thread_id=dm_conversation_id(check_id(recipient, f"{where} recipient_id"), account_id), private=True))
            continue
        data = _req(create, "message_data", where)
        text = data.get("text")
        if not isinstance(text, str):
            raise MalformedDelivery(f"{where}: missing text")
        user = users.get(sender) or {}
        user = user.get("data", user) if isinstance(user, dict) else {}  # XAA nests the v2 user in "data"
        metrics = user.get("public_metrics") or {}
        followers = metrics.get("followers_count", user.get("followers_count"))
        attachment = data.get("attachment") if isinstance(data.get("attachment"), dict) else None
        attachments = ()
        if attachment:
            media = attachment.get("media") or {}
            attachments = (Attachment(type=media.get("type", attachment.get("type", "media")),
                                      id=media.get("id_str"), url=media.get("media_url_https")),)
        mentions.append(Mention(
            platform="x", channel="x", kind="dm",
            mention_id=dm_id,
            thread_id=dm_conversation_id(sender, account_id),
            author=Author(id=sender, handle=_text(user.get("username") or user.get("screen_name")),
                          name=_text(user.get("name")),
                          followers=_int(followers),
                          verified=user.get("verified") if isinstance(user.get("verified"), bool) else None),
            text=text,
            created_at=_iso_from_millis(_req(event, "created_timestamp", where), where),
            account_id=account_id,
            attachments=attachments,
            source=source,
            event_id=event_id,
            raw=_dm_raw(envelope, account_id, event, {sender: users[sender]} if sender in users else {}),
        ))
    return Delivery(mentions=tuple(mentions), ignored=tuple(ignored), answers=tuple(answers))
