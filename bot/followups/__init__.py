"""Follow-ups of a posted result: upscale and vary one image, or edit and run the job again.

``request`` builds a follow-up's runtime request, ``buttons`` the buttons and menus under every
result, ``form`` the Edit form and the listener answering its submits, ``reply`` the parent message a
public follow-up replies to; ``actions`` is what they ask of the job service, which starts follow-ups
(``bot.jobs.follow_ups``) like any other job and is not imported here.
"""
