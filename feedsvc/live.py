"""The live runtime state: the parts built from the current configuration.

Its own module so that both sides of it depend on it and neither owns it: ``app.py``
(the wiring) builds a :class:`Live` and swaps it whole on a config reload, while
``web.py`` (the handlers) only reads the current one through :data:`LIVE`. Kept in
``web.py`` it made the serving stage import the pipeline and the scheduler just to
name their types.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from feedsvc.config import Settings
from feedsvc.feeds import FeedCache
from feedsvc.pipeline import Pipeline
from feedsvc.scheduler import Scheduler


@dataclass
class Live:
    """The parts built from the current configuration; swapped whole on reload."""

    settings: Settings
    feeds: FeedCache
    pipeline: Pipeline
    scheduler: Scheduler

    def replace_with(self, other: Live) -> None:
        self.settings, self.feeds = other.settings, other.feeds
        self.pipeline, self.scheduler = other.pipeline, other.scheduler


LIVE = web.AppKey("live", Live)
