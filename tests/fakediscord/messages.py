"""Interaction callbacks, webhook (token) messages and channel (bot-token) messages, with Discord's rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import payloads, replies, rules
from .rules import Answer
from .state import EPHEMERAL, TOKEN_LIFETIME_S, FakeInteraction, RecordedRequest, StoredMessage

if TYPE_CHECKING:
    from .server import FakeDiscord

LOADING = 1 << 7
MESSAGE_CALLBACKS = {4, 5}  # these create the original response message
COMPONENT_CALLBACKS = {6, 7}  # these answer a component click on its own message
#: Callback types Discord accepts per interaction type (command, component, autocomplete, modal submit).
VALID_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


class MessageBoard:
    """Owns the message store and the per-interaction response state."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    # -- interaction callback -------------------------------------------------------------------

    async def callback(self, record: RecordedRequest) -> Any:
        fake = self.fake
        interaction = fake.interactions.get(int(record.match["interaction"]))
        if interaction is None or interaction.token != record.match["token"]:
            raise Answer(rules.UNKNOWN_INTERACTION.because("unknown_interaction"), "never dispatched")
        if interaction.is_acknowledged:
            raise Answer(
                rules.ALREADY_ACKNOWLEDGED, f"interaction {interaction.id} already got type {interaction.callback_type}"
            )
        late_by = record.at - interaction.dispatched_at - fake.ack_deadline_s
        if late_by > 0:
            raise Answer(
                rules.UNKNOWN_INTERACTION.because("late_ack"),
                f"acknowledged {late_by + fake.ack_deadline_s:.2f}s after dispatch",
            )
        body = record.json or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if kind not in VALID_CALLBACKS.get(interaction.type, set()):
            raise Answer(
                rules.INVALID_FORM_BODY.because("invalid_callback_type"),
                f"callback type {kind} for an interaction of type {interaction.type}",
            )
        if kind == 8:
            rejection = rules.check_autocomplete(body)
            if rejection:
                raise Answer(rejection)
            interaction.autocomplete_choices = list(data.get("choices") or [])
        elif kind in (4, 7):
            rejection = rules.check_message_body(data, record.files, file_size_limit=fake.file_size_limit)
            if rejection:
                raise Answer(rejection)
        interaction.callback_type, interaction.callback_at = kind, record.at
        message = None
        if kind in MESSAGE_CALLBACKS:
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            message = self._create(interaction.payload["channel_id"], {**data, "flags": flags}, record, webhook=True)
            message.token = interaction.token
            interaction.original_message_id = message.id
            interaction.is_ephemeral = bool(flags & EPHEMERAL)
        elif kind in COMPONENT_CALLBACKS and "message" in interaction.payload:
            message = fake.messages.get(int(interaction.payload["message"]["id"]))
            interaction.original_message_id = message.id if message else None
            if message is not None and kind == 7:
                self._edit(message, data, record)
        response: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_id": str(message.id) if message else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": interaction.is_ephemeral,
            }
        }
        if message is not None and kind in (4, 5, 7):
            response["resource"] = {"type": kind, "message": message.payload}
        return response

    # -- webhook endpoints (the interaction token) ------------------------------------------------

    def _interaction_for_token(self, record: RecordedRequest) -> FakeInteraction:
        fake = self.fake
        if record.match["app"] != str(payloads.APP_ID):
            raise Answer(rules.UNKNOWN_WEBHOOK, "wrong application id")
        interaction = fake.interaction_by_token(record.match["token"])
        if interaction is None:
            raise Answer(rules.INVALID_WEBHOOK_TOKEN.because("unknown_token"), "token never issued")
        if record.at > interaction.created_at + TOKEN_LIFETIME_S:
            violation = "expired_token" if fake.is_expired_token_a_violation else None
            raise Answer(
                rules.INVALID_WEBHOOK_TOKEN.because(violation),
                f"token of interaction {interaction.id} is {record.at - interaction.created_at:.0f}s old",
            )
        if not interaction.is_acknowledged:
            raise Answer(
                rules.UNKNOWN_WEBHOOK.because("not_acknowledged"),
                f"interaction {interaction.id} was never acknowledged",
            )
        return interaction

    def _webhook_message(self, record: RecordedRequest) -> StoredMessage:
        interaction = self._interaction_for_token(record)
        key = record.match["message"]
        message_id = interaction.original_message_id if key == "@original" else int(key)
        message = self.fake.messages.get(message_id or 0)
        if message is None or message.is_deleted or (key != "@original" and message.token != interaction.token):
            raise Answer(rules.UNKNOWN_MESSAGE, f"message {key}")
        return message

    async def webhook_get(self, record: RecordedRequest) -> Any:
        return self._webhook_message(record).payload

    async def webhook_edit(self, record: RecordedRequest) -> Any:
        message = self._webhook_message(record)
        return self._edit(message, record.json or {}, record).payload

    async def webhook_delete(self, record: RecordedRequest) -> Any:
        self._webhook_message(record).is_deleted = True
        return None

    async def followup_send(self, record: RecordedRequest) -> Any:
        interaction = self._interaction_for_token(record)
        original = self.fake.messages.get(interaction.original_message_id or 0)
        if original is not None and not original.is_deleted and original.payload["flags"] & LOADING:
            # Discord reads a followup sent while the deferred "thinking" message still loads as resolving
            # it: the original is replaced and keeps the defer's ephemerality (discord-api-docs #2742).
            body = {**(record.json or {}), "flags": original.payload["flags"] & EPHEMERAL}
            return self._edit(original, body, record).payload
        message = self._create(interaction.payload["channel_id"], record.json or {}, record, webhook=True)
        message.token = interaction.token
        return message.payload

    # -- channel endpoints (the bot token) ---------------------------------------------------------

    def _channel_message(self, record: RecordedRequest) -> StoredMessage:
        message = self.fake.messages.get(int(record.match["message"]))
        if (
            message is None
            or message.is_deleted
            or message.is_ephemeral
            or str(message.channel_id) != record.match["channel"]
        ):
            raise Answer(rules.UNKNOWN_MESSAGE, f"message {record.match['message']}")
        return message

    async def channel_send(self, record: RecordedRequest) -> Any:
        channel_id = record.match["channel"]
        if int(channel_id) not in self.fake.channels:
            raise Answer(rules.UNKNOWN_CHANNEL, f"channel {channel_id}")
        body = record.json or {}
        parent = replies.referenced(body, int(channel_id), self.fake.messages)
        message = self._create(channel_id, body, record, webhook=False)
        if parent is not None:
            replies.mark_reply(message.payload, parent)
        message.payload["mentions"] = replies.mentions(body, parent)
        return message.payload

    async def channel_history(self, record: RecordedRequest) -> Any:
        """A channel's messages, newest first, as many as ``limit`` (1-100, default 50), before/after an id."""
        channel_id = int(record.match["channel"])
        if channel_id not in self.fake.channels:
            raise Answer(rules.UNKNOWN_CHANNEL, f"channel {channel_id}")
        limit = int(record.params.get("limit", 50))
        if not 1 <= limit <= 100:
            raise Answer(rules.INVALID_FORM_BODY, f"limit {limit}")
        before, after = int(record.params.get("before", 1 << 63)), int(record.params.get("after", 0))
        listed = [
            message.payload
            for message in sorted(self.fake.messages.values(), key=lambda m: m.id, reverse=True)
            if message.channel_id == channel_id and not message.is_deleted and not message.is_ephemeral
            if after < message.id < before
        ]
        return listed[:limit]

    async def channel_get(self, record: RecordedRequest) -> Any:
        return self._channel_message(record).payload

    async def channel_edit(self, record: RecordedRequest) -> Any:
        return self._edit(self._channel_message(record), record.json or {}, record).payload

    async def channel_delete(self, record: RecordedRequest) -> Any:
        self._channel_message(record).is_deleted = True
        return None

    async def dm_open(self, record: RecordedRequest) -> Any:
        recipient = str((record.json or {}).get("recipient_id"))
        user = payloads.find_user(recipient)
        if user is None:
            raise Answer(rules.CANNOT_MESSAGE_USER, recipient)
        channel_id = self.fake.dm_channel_for(user.id)
        return {"id": str(channel_id), "type": 1, "recipients": [user.user_payload()], "last_message_id": None}

    # -- the store ---------------------------------------------------------------------------------

    def _attachments(self, record: RecordedRequest) -> list[dict[str, Any]]:
        return [
            self.fake.add_attachment(upload.data, upload.filename, content_type=upload.content_type)
            for upload in record.files
        ]

    def _create(
        self, channel_id: str | int, body: dict[str, Any], record: RecordedRequest, *, webhook: bool
    ) -> StoredMessage:
        rejection = rules.check_message_body(body, record.files, file_size_limit=self.fake.file_size_limit)
        if rejection:
            raise Answer(rejection)
        message_id = self.fake.snowflake()
        payload = payloads.message(
            message_id, int(channel_id), body, at_s=record.at, webhook=webhook, attachments=self._attachments(record)
        )
        message = StoredMessage(message_id, int(channel_id), payload, list(record.files))
        self.fake.messages[message_id] = message
        self._check_embeds(message, record)
        return message

    def _check_embeds(self, message: StoredMessage, record: RecordedRequest) -> None:
        for url in rules.unmatched_embed_attachments(message.payload):
            self.fake.violate("embed_attachment_missing", f"{record.method} {record.path}: {url} names no attachment")

    def _edit(self, message: StoredMessage, body: dict[str, Any], record: RecordedRequest) -> StoredMessage:
        rejection = rules.check_message_body(body, record.files, file_size_limit=self.fake.file_size_limit)
        if rejection:
            raise Answer(rejection)
        payload = dict(message.payload)
        for key in ("content", "embeds", "components"):
            if key in body:
                payload[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "flags" in body and body["flags"] is not None:
            payload["flags"] = (int(body["flags"]) & ~EPHEMERAL) | (payload["flags"] & EPHEMERAL)
        payload["flags"] = payload.get("flags", 0) & ~LOADING
        kept = payload["attachments"]
        if "attachments" in body:
            listed = {str(item.get("id")) for item in body["attachments"] or []}
            kept = [item for item in kept if item["id"] in listed]
        payload["attachments"] = kept + self._attachments(record)
        payload["edited_timestamp"] = payloads.timestamp(record.at)
        message.payload = payload
        message.files = [*message.files, *record.files] if "attachments" not in body else list(record.files)
        message.edits += 1
        self._check_embeds(message, record)
        return message
