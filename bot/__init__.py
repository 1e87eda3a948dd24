"""Multilingual investor-education Q&A over a cited corpus.

The core knows nothing of Telegram: ``Engine.open(settings).answer(question, conversation)``
is the one call every front end makes.
"""

__version__ = "0.1.0"
