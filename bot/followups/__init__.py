"""Follow-ups of a posted result: upscale and vary one image, with buttons under every result.

``request`` builds a follow-up's runtime request, ``buttons`` the buttons; neither imports the
job service, which starts follow-ups (``bot.jobs.follow_ups``) like any other job.
"""
