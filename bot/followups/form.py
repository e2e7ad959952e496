"""The Edit form: a job's free-text prompt, subject, seed and style, filled in; its submit runs the job again changed.

discord.py keeps an open modal in memory only, so a form opened before a restart would be answered
by nobody after it. The form is therefore sent already stopped (discord.py stores only unfinished
modals) and every submit, before or after a restart, goes through ``submit_edit_form``: a listener
for modal submits whose custom id names the job, reading the fields by their own custom ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, get_args

import discord
from discord import ui

from fact_runtime import Subject

from ..errors import FormUnreadable
from ..respond import reply_error
from .actions import follow_up_actions

if TYPE_CHECKING:
    from ..store import JobRecord

__all__ = ["FORM_ID", "EditForm", "form_values", "submit_edit_form"]

log = logging.getLogger(__name__)

FORM_ID = re.compile(r"fact:editform:(?P<job_id>[0-9a-f]{8,32})")
#: The longest extra prompt, as /portrait takes it.
MAX_PROMPT = 300
#: The form's fields by custom id (which a submit is read by), with the longest text each takes.
FIELDS = {"prompt": MAX_PROMPT, "subject": 16, "seed": 10}
#: The style menu's custom id: optional in a submit (a form opened before it existed, a template job's form).
STYLE = "style"
#: A menu lists at most 25 options.
MAX_STYLES = 25
#: Discord's component types inside a submitted modal: an action row, a string menu, a text input, a label.
_ROW, _MENU, _TEXT_INPUT, _LABEL = 1, 3, 4, 18


class EditForm(ui.Modal):
    """The form Edit opens; built to be sent, never to be answered in memory (see ``submit_edit_form``)."""

    def __init__(self, record: JobRecord, styles: Sequence[tuple[str, str]] = ()) -> None:
        """``styles`` (id, name) fill the style menu, the job's own first; none: the style stays and is not shown."""
        super().__init__(title="Edit and run again", timeout=None, custom_id=f"fact:editform:{record.job_id}")
        options = record.options
        fields: tuple[ui.TextInput[EditForm], ...] = (
            ui.TextInput(
                label="Extra words for the picture",
                style=discord.TextStyle.paragraph,
                default=options.prompt,
                required=False,
                max_length=FIELDS["prompt"],
                custom_id="prompt",
            ),
            ui.TextInput(
                label=f"Subject ({', '.join(get_args(Subject))})",
                default=options.subject,
                required=False,
                max_length=FIELDS["subject"],
                custom_id="subject",
            ),
            ui.TextInput(
                label="Seed (blank: a new one)",
                default="" if options.seed is None else str(options.seed),
                required=False,
                max_length=FIELDS["seed"],
                custom_id="seed",
            ),
        )
        for field in fields:
            self.add_item(field)
        if styles:
            self.add_item(ui.Label(text="Style", component=_style_menu(styles, record.options.style_id)))
        # Stopped before it is sent, so discord.py does not keep it: the listener answers its submit.
        self.stop()


def _style_menu(styles: Sequence[tuple[str, str]], current: str | None) -> ui.Select[EditForm]:
    options = [
        discord.SelectOption(label=name[:100], value=style_id, default=style_id == current)
        for style_id, name in styles[:MAX_STYLES]
    ]
    return ui.Select(custom_id=STYLE, options=options, min_values=1, max_values=1, required=False)


def form_values(components: object) -> dict[str, str]:
    """The form's fields by custom id, from a submit's ``data.components`` in either shape Discord sends;
    ``style`` only when the form had the menu and a style was chosen.

    Raises
    ------
    FormUnreadable
        A field is missing, not text or longer than the form allows (a garbled or forged submit).
    """
    values = {custom_id: value for custom_id, value in _inputs(components) if custom_id in FIELDS or custom_id == STYLE}
    unread = [name for name, longest in FIELDS.items() if name not in values or len(values[name]) > longest]
    if len(values.get(STYLE, "")) > 100:  # a style id is a short slug; longer is a forged submit
        unread.append(STYLE)
    if unread:
        raise FormUnreadable(f"the edit form arrived without a readable {', '.join(unread)}")
    return values


def _inputs(components: object) -> Iterator[tuple[str, str]]:
    """(custom_id, value) of every text input and one-choice menu, inside action rows (``components``) or labels
    (``component``)."""
    if not isinstance(components, list):
        return
    for component in components:
        if not isinstance(component, dict):
            continue
        kind = component.get("type")
        if kind == _ROW:
            yield from _inputs(component.get("components"))
        elif kind == _LABEL:
            yield from _inputs([component.get("component")])
        elif kind == _TEXT_INPUT:
            custom_id, value = component.get("custom_id"), component.get("value")
            if isinstance(custom_id, str) and isinstance(value, str):
                yield custom_id, value
        elif kind == _MENU:
            custom_id, chosen = component.get("custom_id"), component.get("values")
            if (
                isinstance(custom_id, str)
                and isinstance(chosen, list)
                and len(chosen) == 1
                and isinstance(chosen[0], str)
            ):
                yield custom_id, chosen[0]


async def submit_edit_form(interaction: discord.Interaction[Any]) -> None:
    """Answer a submitted Edit form (an ``on_interaction`` listener); anything else is left alone.

    The owner is checked again here: a form is shown to one member, but a submit names its job itself.
    """
    if interaction.type is not discord.InteractionType.modal_submit:
        return
    data: Any = interaction.data or {}
    match = FORM_ID.fullmatch(str(data.get("custom_id") or ""))
    if match is None:
        return
    job_id = match["job_id"]
    try:
        actions = follow_up_actions(interaction)
        actions.check_owner(job_id, interaction.user.id)
        values = form_values(data.get("components"))
        # A new prompt meets the server's prompt rules, as the commands' prompt options do.
        responsible = getattr(interaction.client, "responsible", None)
        if responsible is not None:
            rules = responsible.rules_for(interaction.guild_id)
            for text in (values["prompt"], values["subject"]):
                rules.check(text)
        await actions.edit(
            interaction,
            job_id,
            prompt=values["prompt"],
            subject=values["subject"],
            seed=values["seed"],
            style_id=values.get(STYLE),
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
        await reply_error(interaction, exc)
