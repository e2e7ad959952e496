"""The ``data`` of application-command interactions: typed options checked against the bot's own schema."""

from __future__ import annotations

from typing import Any

from .payloads import APP_ID, ATTACHMENT, SUB_COMMAND, SUB_COMMAND_GROUP, USER, FakeUser, find_user

__all__ = ["build_options", "command_data"]


def build_options(
    schema: list[dict[str, Any]],
    given: dict[str, Any],
    *,
    focused: str | None,
    attachments: dict[str, dict[str, Any]],
    users: dict[str, FakeUser] | None = None,
) -> list[dict[str, Any]]:
    """Typed options for the values a test gave, checked against the bot's own command schema.

    A user option takes a ``FakeUser``; it goes into ``users`` for the interaction's ``resolved``.
    """
    by_name = {option["name"]: option for option in schema}
    unknown = set(given) - set(by_name)
    if unknown:
        raise KeyError(f"options {sorted(unknown)} are not in the command schema {sorted(by_name)}")
    options = []
    for name, value in given.items():
        kind = by_name[name]["type"]
        if kind == ATTACHMENT:
            attachments[str(value["id"])] = value
            value = str(value["id"])
        elif kind == USER and isinstance(value, FakeUser):
            if users is not None:
                users[str(value.id)] = value
            value = str(value.id)
        option: dict[str, Any] = {"name": name, "type": kind, "value": value}
        if name == focused:
            option.update(focused=True, value=str(value))
        options.append(option)
    return options


def command_data(
    command: dict[str, Any],
    path: list[str],
    given: dict[str, Any],
    *,
    focused: str | None = None,
) -> dict[str, Any]:
    """`data` of an application-command interaction, nesting subcommands as Discord does."""
    attachments: dict[str, dict[str, Any]] = {}
    schema = command.get("options", [])
    chain: list[dict[str, Any]] = []
    for part in path:
        sub = next((o for o in schema if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
        if sub is None:
            raise KeyError(f"/{command['name']} has no subcommand {part!r}")
        chain.append(sub)
        schema = sub.get("options", [])
    users: dict[str, FakeUser] = {}
    options = build_options(schema, given, focused=focused, attachments=attachments, users=users)
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    data: dict[str, Any] = {
        "id": str(command.get("id", APP_ID + 1)),
        "name": command["name"],
        "type": 1,
        "options": options,
    }
    resolved: dict[str, Any] = {}
    if attachments:
        resolved["attachments"] = attachments
    if users:
        # Discord resolves a member only for users in the guild; anyone else arrives as a bare user.
        resolved["users"] = {user_id: user.user_payload() for user_id, user in users.items()}
        members = {user_id: user.member_payload() for user_id, user in users.items() if find_user(user_id) is not None}
        for member in members.values():
            del member["user"]
        if members:
            resolved["members"] = members
    if resolved:
        data["resolved"] = resolved
    return data
