"""The web app (``avemotion serve``): upload a recording, follow its emotion timeline in the browser.

Top layer beside the CLI: it imports inference and below; nothing imports it.
"""
