"""Meta deliveries (Facebook Page, Messenger, Instagram, WhatsApp Cloud API) → Mentions.

Envelope: `{"object": ..., "entry": [{"id", "time", "changes": [{"field", "value"}] | "messaging": [...]}]}`
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started). One delivery may batch up to
1,000 updates across entries; every one is normalised.

The brand's own replies are native answers (responder.replies.native marks the mentions they answer): the Page's
comment under a comment or a visitor's post (`from.id` is the Page, `parent_id` the answered item), the Instagram
account's reply to a comment (Instagram delivers it as a comment from the account itself, with `parent_id`), and
Messenger and Instagram echoes (`message.is_echo`: the Page's message to a person, sent from any app). WhatsApp does
not echo the business's own messages: an answer sent from another app (WhatsApp Business on a phone) is not seen.

Deletions (Deletion records, erased by the webhook): Page feed and mention changes with `verb: "remove"` (comments
and visitors' posts), and Messenger / Instagram unsends (`message.is_deleted: true`, the unsent message's `mid`).
Instagram's `comments` field documents no removal notice (its value has no `verb`), and WhatsApp none at all: those
deletions are not pushed (`responder forget` covers a person's request).
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
    check_id,
    label,
)


UNKNOWN_AUTHOR = "unknown"
PAGE_FIELDS = ("feed", "mention", "messages")
INSTAGRAM_FIELDS = ("comments", "live_comments", "mentions", "messages")
VISITOR_POST_ITEMS = ("post", "status", "photo", "video", "share")
# WhatsApp message types that are not something a person wrote to the brand.
WHATSAPP_IGNORED_TYPES = ("reaction", "system", "unsupported", "unknown", "request_welcome")


def normalize_meta(body: Any) -> Delivery:
    """Normalise one parsed Meta webhook body; receipts, echoes and unknown fields are listed as ignored."""
    if not isinstance(body, dict):
        raise MalformedDelivery("Meta delivery must be a JSON object")
    obj = body.get("object")
    entries = body.get("entry")
    if not isinstance(obj, str) or not isinstance(entries, list):
        raise MalformedDelivery("Meta delivery needs 'object' and an 'entry' list")
    handler = {"page": _page_entry, "instagram": _instagram_entry,
               "whatsapp_business_account": _whatsapp_entry}.get(obj)
    if handler is None:
        return Delivery(mentions=(), ignored=(f"meta object {label(obj)}",))
    found = _Found()
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("id") in (None, "") or isinstance(entry.get("id"), bool):
            raise MalformedDelivery(f"meta {label(obj)}: every entry needs an id")
        # The account an entry is for is checked even when all its events are ignored: an envelope no platform
        # would send is refused, not acknowledged.
        check_id(str(entry["id"]), f"meta {label(obj)} entry id")
        handler(entry, found)
    return Delivery(mentions=tuple(found.mentions), ignored=tuple(found.ignored), answers=tuple(found.answers),
                    deletions=tuple(found.deletions))


class _Found:
    """What a delivery's updates turned out to be: mentions, native answers, or ignored (with why)."""

    def __init__(self) -> None:
        self.mentions: list[Mention] = []
        self.answers: list[NativeAnswer] = []
        self.deletions: list[Deletion] = []
        self.ignored: list[str] = []

    def add(self, result: Mention | NativeAnswer | Deletion | str) -> None:
        if isinstance(result, Mention):
            self.mentions.append(result)
        elif isinstance(result, NativeAnswer):
            self.answers.append(result)
        elif isinstance(result, Deletion):
            self.deletions.append(result)
        else:
            self.ignored.append(result)


# --- helpers ----------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A string field as a string (ids and names arrive as numbers too), or None when absent."""
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def _iso_from_epoch(value: Any, where: str) -> str:
    """Meta mixes epoch seconds (feed) and milliseconds (messaging, entry.time)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise MalformedDelivery(f"{where}: timestamp is not a number") from exc
    if number > 1e11:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedDelivery(f"{where}: timestamp out of range") from exc


def _iso_from_any(value: Any, where: str) -> str:
    if isinstance(value, str) and not value.isdigit():
        try:  # the Graph API's own format: 2026-07-24T21:23:23+0000
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError as exc:
            raise MalformedDelivery(f"{where}: time is not a date") from exc
        return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _iso_from_epoch(value, where)


def _id(obj: Any, key: str, where: str) -> str:
    if not isinstance(obj, dict) or obj.get(key) in (None, "") or isinstance(obj.get(key), (dict, list, bool)):
        raise MalformedDelivery(f"{where}: missing {key}")
    return str(obj[key])


def _changes(entry: dict[str, Any], where: str) -> list[dict[str, Any]]:
    changes = entry.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise MalformedDelivery(f"{where}: changes must be a list of objects")
    return changes


def _messaging(entry: dict[str, Any], where: str) -> list[dict[str, Any]]:
    events = entry.get("messaging", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise MalformedDelivery(f"{where}: messaging must be a list of objects")
    return events


def _raw(obj: str, entry: dict[str, Any], key: str, item: dict[str, Any]) -> dict[str, Any]:
    """The audit copy: the envelope around this single update."""
    return {"object": obj, "entry": [{"id": entry.get("id"), "time": entry.get("time"), key: [item]}]}


def _message_attachments(message: dict[str, Any]) -> tuple[Attachment, ...]:
    items = []
    for att in message.get("attachments") or []:
        if isinstance(att, dict):
            payload = att.get("payload") if isinstance(att.get("payload"), dict) else {}
            items.append(Attachment(type=str(att.get("type", "file")), url=payload.get("url")))
    return tuple(items)


def _messaging_event(obj: str, channel: str, entry: dict[str, Any],
                     event: dict[str, Any]) -> Mention | NativeAnswer | Deletion | str:
    """A Messenger or Instagram messaging event → a Mention, a native answer (an echo), or why it is ignored."""
    where = f"meta {obj} messaging"
    account_id = str(entry["id"])
    message = event.get("message")
    if not isinstance(message, dict):
        kinds = sorted(k for k in event if k not in ("sender", "recipient", "timestamp"))
        return f"{where} {','.join(label(k) for k in kinds[:5]) or 'empty'}"
    if message.get("is_echo"):
        return _echo(obj, channel, entry, event, message)
    if message.get("is_deleted") is True:
        # An unsend: the person took the message back, so its stored copy goes too (the deleted message's mid).
        return Deletion(channel=channel, mention_id=check_id(_id(message, "mid", where), f"{where} mid"),  # type: ignore[arg-type]
                        source="meta.unsend", at=_optional_time(event.get("timestamp"), where))
    sender_obj = event.get("sender") if isinstance(event.get("sender"), dict) else {}
    # Checkbox-plugin and chat-plugin senders are identified by user_ref until they have a page-scoped id. A
    # user_ref is another namespace: prefixed, it can never pass for a person's (or the Page's) id.
    user_ref = _text(sender_obj.get("user_ref"))
    sender = _text(sender_obj.get("id")) or (f"ref:{user_ref}" if user_ref else None)
    if not sender:
        raise MalformedDelivery(f"{where}: missing sender id")
    if sender == account_id:
        return f"{where} sent by the brand"
    mid = _id(message, "mid", where)
    text = message.get("text", "")
    if not isinstance(text, str):
        raise MalformedDelivery(f"{where}: text must be a string")
    reply_to = message.get("reply_to") if isinstance(message.get("reply_to"), dict) else {}
    return Mention(
        platform="meta", channel=channel, kind="message" if channel == "messenger" else "dm",  # type: ignore[arg-type]
        mention_id=mid,
        parent_id=reply_to.get("mid") or None,
        # One conversation per person and account: Messenger and Instagram DMs have no other root.
        thread_id=f"{account_id}:{sender}",
        author=Author(id=sender),
        text=text,
        created_at=_iso_from_epoch(event.get("timestamp", entry.get("time")), where),
        account_id=account_id,
        attachments=_message_attachments(message),
        source=f"meta.{obj}",
        raw=_raw(obj, entry, "messaging", event),
    )


def _echo(obj: str, channel: str, entry: dict[str, Any], event: dict[str, Any],
          message: dict[str, Any]) -> NativeAnswer | str:
    """The account's own message to a person (Messenger / Instagram echo): it answers their conversation."""
    where = f"meta {obj} messaging echo"
    account_id = str(entry["id"])
    recipient = _text((event.get("recipient") if isinstance(event.get("recipient"), dict) else {}).get("id"))
    mid = _text(message.get("mid"))
    if recipient is None or mid is None or recipient == account_id:
        return where
    text = message.get("text", "")
    return NativeAnswer(
        channel=channel, reply_id=check_id(mid, f"{where} mid"),  # type: ignore[arg-type]
        text=text if isinstance(text, str) else "",
        at=_optional_time(event.get("timestamp"), where),
        thread_id=check_id(f"{account_id}:{recipient}", f"{where} recipient"), private=True)


def _optional_time(value: Any, where: str) -> str | None:
    """When the brand answered, if the update says so (the marker uses the time it was received otherwise)."""
    if value in (None, ""):
        return None
    try:
        return _iso_from_any(value, where)
    except MalformedDelivery:
        return None


def _brand_comment(channel: str, where: str, value: dict[str, Any], comment_key: str,
                   time_key: str) -> NativeAnswer | None:
    """The account's own comment under a comment or post: the answer to that item (None when top-level)."""
    parent, comment_id = _text(value.get("parent_id")), _text(value.get(comment_key))
    if parent is None or comment_id is None:
        return None
    text = value.get("message" if channel == "facebook" else "text", "")
    return NativeAnswer(channel=channel,  # type: ignore[arg-type]
                        reply_id=check_id(comment_id, f"{where} {comment_key}"),
                        text=text if isinstance(text, str) else "", at=_optional_time(value.get(time_key), where),
                        mention_id=check_id(parent, f"{where} parent_id"))


# --- Facebook Page: feed comments, mentions, Messenger --------------------------------------------------


def _page_entry(entry: dict[str, Any], found: _Found) -> None:
    page_id = str(entry["id"])
    for change in _changes(entry, "meta page"):
        field, value = change.get("field"), change.get("value")
        if field not in PAGE_FIELDS:
            found.add(f"meta page {label(field)}")  # before any validation: an ignored field never refuses a batch
            continue
        if not isinstance(value, dict):
            raise MalformedDelivery(f"meta page {field}: value must be an object")
        if field == "messages":  # the `changes` shape of a Messenger message (dashboard tests, some versions)
            found.add(_messaging_event("page", "messenger", entry, value))
        else:
            found.add(_page_change(page_id, entry, change, field, value))
    found.ignored.extend("meta page standby" for _ in entry.get("standby") or [])
    for event in _messaging(entry, "meta page"):
        found.add(_messaging_event("page", "messenger", entry, event))


def _page_removal(field: Any, item: Any, value: dict[str, Any], where: str) -> Deletion:
    """A comment or post removed from the Page (`verb: "remove"`): the stored copy is erased. A feed comment is stored
    under its comment_id, a visitor's post under its post_id, a Page mention under comment_id or post_id."""
    key = "comment_id" if item == "comment" else "post_id"
    item_id = _id(value, key, where)
    return Deletion(channel="facebook", mention_id=check_id(item_id, f"{where} {key}"), source="meta.feed.remove",
                    at=_optional_time(value.get("created_time"), where))


def _page_change(page_id: str, entry: dict[str, Any], change: dict[str, Any], field: Any,
                 value: dict[str, Any]) -> Mention | NativeAnswer | Deletion | str:
    item, verb = value.get("item"), value.get("verb")
    where = f"meta page {label(field)}"
    if verb == "remove" and ((field == "feed" and item in ("comment", *VISITOR_POST_ITEMS))
                             or (field == "mention" and item in ("post", "comment"))):
        return _page_removal(field, item, value, where)
    if field == "feed" and item in ("comment", *VISITOR_POST_ITEMS):
        if verb != "add":
            return f"{where} {label(item)} {label(verb)}"
        # `from` is omitted when the person's privacy settings hide them from the app: still a comment to answer.
        # Older feed payloads name the author with sender_id / sender_name instead.
        author = value.get("from") if isinstance(value.get("from"), dict) else {
            "id": value.get("sender_id"), "name": value.get("sender_name")}
        author_id = _text(author.get("id")) or UNKNOWN_AUTHOR
        if author_id == page_id:
            answer = _brand_comment("facebook", where, value, "comment_id", "created_time") if item == "comment" \
                else None
            return answer or f"{where} {label(item)} by the page"
        post_id = _id(value, "post_id", where)
        if item == "comment":
            kind, mention_id, parent = "comment", _id(value, "comment_id", where), value.get("parent_id")
        else:  # a visitor's post on the Page's timeline addresses the brand directly
            kind, mention_id, parent = "mention", post_id, None
        text, name = value.get("message", ""), _text(author.get("name"))
    elif field == "mention" and item in ("post", "comment"):
        if verb != "add":
            return f"{where} {label(item)} {label(verb)}"
        author_id = _text(value.get("sender_id")) or UNKNOWN_AUTHOR  # real deliveries may omit it
        if author_id == page_id:
            return f"{where} {label(item)} by the page"
        post_id = _id(value, "post_id", where)
        mention_id = str(value.get("comment_id") or post_id)
        parent = post_id if item == "comment" else None
        kind, text, name = "mention", value.get("message", ""), _text(value.get("sender_name"))
    else:
        return f"{where} {label(item) if item else ''} {label(verb) if verb else ''}".strip()
    if not isinstance(text, str):
        raise MalformedDelivery(f"{where}: message must be a string")
    attachments = ()
    if value.get("photo") or value.get("video"):
        attachments = (Attachment(type="photo" if value.get("photo") else "video",
                                  url=value.get("photo") or value.get("video")),)
    return Mention(
        platform="meta", channel="facebook", kind=kind,  # type: ignore[arg-type]
        mention_id=mention_id,
        parent_id=str(parent) if parent and str(parent) != mention_id else None,
        thread_id=post_id,  # a Page post is the root of every comment under it
        author=Author(id=author_id, name=name),
        text=text,
        created_at=_iso_from_any(value.get("created_time", entry.get("time")), where),
        account_id=page_id,
        attachments=attachments,
        source="meta.page",
        raw=_raw("page", entry, "changes", change),
    )


# --- Instagram: comments, mentions, messaging -----------------------------------------------------------


def _instagram_entry(entry: dict[str, Any], found: _Found) -> None:
    account_id = str(entry["id"])
    mentions, ignored = found.mentions, found.ignored
    changes = _changes(entry, "meta instagram")
    if "field" in entry and "value" in entry:
        # Meta's own example puts field/value directly in the entry; accept that shape too.
        changes = changes + [{"field": entry["field"], "value": entry["value"]}]
    for change in changes:
        field, value = change.get("field"), change.get("value")
        where = f"meta instagram {label(field)}"
        if field not in INSTAGRAM_FIELDS:
            ignored.append(where)
            continue
        if not isinstance(value, dict):
            raise MalformedDelivery(f"{where}: value must be an object")
        if field == "messages":
            found.add(_messaging_event("instagram", "instagram", entry, value))
            continue
        if field in ("comments", "live_comments"):
            author = value.get("from") if isinstance(value.get("from"), dict) else {}
            author_id = _text(author.get("id")) or UNKNOWN_AUTHOR
            if author_id == account_id:
                # The account's reply to a comment arrives as a comment from the account: a native answer.
                found.add(_brand_comment("instagram", where, value, "id", "timestamp")
                          or f"{where} by the account itself")
                continue
            comment_id = _id(value, "id", where)
            media_id = _id(value.get("media"), "id", where)
            text = value.get("text", "")
            if not isinstance(text, str):
                raise MalformedDelivery(f"{where}: text must be a string")
            mentions.append(Mention(
                platform="meta", channel="instagram", kind="comment",
                mention_id=comment_id,
                parent_id=str(value.get("parent_id") or media_id),
                thread_id=media_id,
                author=Author(id=author_id, handle=_text(author.get("username"))),
                text=text,
                created_at=_iso_from_any(value.get("timestamp", entry.get("time")), where),
                account_id=account_id,
                source="meta.instagram",
                raw=_raw("instagram", entry, "changes", change),
            ))
        elif field == "mentions":
            media_id = _id(value, "media_id", where)
            comment_id = value.get("comment_id")
            # The mentions webhook carries ids only; the text is fetched from the Graph API when triaged.
            mentions.append(Mention(
                platform="meta", channel="instagram", kind="mention",
                mention_id=str(comment_id or media_id),
                parent_id=media_id if comment_id else None,
                thread_id=media_id,
                author=Author(id=UNKNOWN_AUTHOR),
                text="",
                created_at=_iso_from_any(entry.get("time"), where),
                account_id=account_id,
                source="meta.instagram",
                raw=_raw("instagram", entry, "changes", change),
            ))
        else:
            ignored.append(where)
    for event in _messaging(entry, "meta instagram"):
        found.add(_messaging_event("instagram", "instagram", entry, event))


# --- WhatsApp Cloud API ---------------------------------------------------------------------------------


def _whatsapp_text(message: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    kind = message.get("type")
    if kind == "text":
        body = (message.get("text") or {}).get("body")
        if not isinstance(body, str):
            raise MalformedDelivery("meta whatsapp message: text.body missing")
        return body, ()
    part = message.get(kind) if isinstance(kind, str) and isinstance(message.get(kind), dict) else {}
    if kind in ("image", "video", "audio", "document", "sticker"):
        return str(part.get("caption") or ""), (Attachment(type=kind, id=part.get("id"), caption=part.get("caption")),)
    if kind == "button":
        return str(part.get("text") or ""), ()
    if kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or part.get("nfm_reply") or {}
        return str(reply.get("title") or reply.get("body") or ""), ()
    if kind == "order":
        return str(part.get("text") or ""), (Attachment(type="order", id=part.get("catalog_id")),)
    if kind == "location":
        return str(part.get("name") or part.get("address") or ""), (Attachment(type="location"),)
    return "", (Attachment(type=str(kind or "unknown")),)


def _whatsapp_entry(entry: dict[str, Any], found: _Found) -> None:
    mentions, ignored = found.mentions, found.ignored
    for change in _changes(entry, "meta whatsapp"):
        value = change.get("value")
        where = f"meta whatsapp {label(change.get('field'))}"
        if change.get("field") != "messages" or not isinstance(value, dict):
            ignored.append(where)
            continue
        if value.get("statuses"):
            ignored.append(f"{where} statuses")
        messages = value.get("messages") or []
        if not isinstance(messages, list):
            raise MalformedDelivery(f"{where}: messages must be a list")
        if not messages:
            continue
        phone_id = _id(value.get("metadata"), "phone_number_id", where)
        contacts = {str(c.get("wa_id")): c for c in value.get("contacts") or [] if isinstance(c, dict)}
        for message in messages:
            if not isinstance(message, dict):
                raise MalformedDelivery(f"{where}: each message must be an object")
            wamid = _id(message, "id", where)
            if message.get("type") in WHATSAPP_IGNORED_TYPES:
                ignored.append(f"{where} {label(message.get('type'))}")
                continue
            sender = _text(message.get("from")) or _text(message.get("from_user_id"))
            if not sender:
                raise MalformedDelivery(f"{where}: a message has no sender")
            text, attachments = _whatsapp_text(message)
            context = message.get("context") if isinstance(message.get("context"), dict) else {}
            contact = contacts.get(sender, {})
            # The audit copy holds this message and its own sender's contact only: never another customer's.
            single = dict(change, value={**value, "messages": [message],
                                         "contacts": [contact] if contact else []})
            single["value"].pop("statuses", None)
            mentions.append(Mention(
                platform="meta", channel="whatsapp", kind="message",
                mention_id=wamid,
                parent_id=context.get("id") or None,
                thread_id=f"{phone_id}:{sender}",  # one conversation per customer number and business number
                author=Author(id=sender, name=_text((contact.get("profile") or {}).get("name"))),
                text=text,
                created_at=_iso_from_epoch(_id(message, "timestamp", where), where),
                account_id=phone_id,
                attachments=attachments,
                source="meta.whatsapp",
                raw=_raw("whatsapp_business_account", entry, "changes", single),
            ))
