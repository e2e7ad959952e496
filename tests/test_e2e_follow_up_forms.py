"""End to end through the fake Discord: the Edit form answered before and after a restart, by its owner only."""

from __future__ import annotations

import pytest

from bot.errors import FormUnreadable, NotJobOwner
from bot.followups.form import form_values
from tests.fakediscord import ALICE, BOB
from tests.follow_ups_e2e import MODAL_SUBMIT, engine, open_form, result_of, submit
from tests.portrait_e2e import WorldFactory


async def test_a_form_opened_before_a_restart_is_answered_after_it(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, style="cyberpunk", prompt="neon rain", seed=5)
    result = await world.result_message()
    form = await open_form(world, result)

    await world.restart()
    submitted = await submit(world, form, {"Extra": "golden hour", "Subject": "man", "Seed": "11"})
    edited = await result_of(world, submitted)
    (request,) = world.engine.requests  # the new process's engine ran the edited job
    assert (request.prompt, request.subject, request.seed, request.style_id) == ("golden hour", "man", 11, "cyberpunk")
    assert edited.files and not edited.is_ephemeral


async def test_a_submit_for_someone_elses_job_is_refused_with_the_buttons_sentence(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    form = await open_form(world, result)

    # Bob never saw the form; he sends its submit for Alice's job himself.
    forged = await submit(world, form, {"Extra": "mine now", "Subject": "", "Seed": ""}, user=BOB)
    assert (await world.sentence_for(forged)).content == NotJobOwner.user_message
    assert len(world.engine.requests) == 1


async def test_a_submit_in_labels_is_read_and_a_garbled_one_is_told_in_one_sentence(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, seed=3)
    result = await world.result_message()
    form = await open_form(world, result)

    def field(custom_id: str, value: object) -> dict:
        return {"type": 18, "component": {"type": 4, "custom_id": custom_id, "value": value}}

    labelled = [field("prompt", "by the sea"), field("subject", ""), field("seed", "4")]
    click = await world.fake.send_interaction(
        MODAL_SUBMIT, {"custom_id": form["custom_id"], "components": labelled}, ALICE
    )
    await result_of(world, click)
    assert (world.engine.requests[-1].prompt, world.engine.requests[-1].seed) == ("by the sea", 4)

    garbled = [field("prompt", "x"), field("subject", 7), "junk"]
    click = await world.fake.send_interaction(
        MODAL_SUBMIT, {"custom_id": form["custom_id"], "components": garbled}, ALICE
    )
    assert (await world.sentence_for(click)).content == FormUnreadable.user_message
    assert len(world.engine.requests) == 2


_ROWS = [
    {"type": 1, "components": [{"type": 4, "custom_id": name, "value": name.upper()}]} for name in ("prompt", "seed")
]
_LABELS = [{"type": 18, "component": {"type": 4, "custom_id": "subject", "value": "woman"}}]


def test_form_values_reads_both_shapes_and_ignores_other_fields() -> None:
    other = {"type": 4, "custom_id": "other", "value": "x"}
    assert form_values([*_ROWS, *_LABELS, other]) == {"prompt": "PROMPT", "seed": "SEED", "subject": "woman"}


@pytest.mark.parametrize(
    "components",
    [
        None,
        "text",
        [None, 3],
        _ROWS,
        [{"type": 1, "components": "no"}, *_LABELS],
        [{"type": 18}, *_ROWS],
        [{"type": 4, "custom_id": "seed", "value": "1" * 11}, *_ROWS[:1], *_LABELS],
    ],
)
def test_form_values_refuses_a_form_without_its_three_text_fields(components: object) -> None:
    with pytest.raises(FormUnreadable):
        form_values(components)
