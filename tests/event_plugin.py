"""An event filter package written the OpenIO 7.2 way (a `Filter`
subclass, a `filter_factory`, an `oio.event.filter_factory` entry point),
written out as an installed distribution for tests to put on a path."""

from __future__ import annotations

from pathlib import Path

DIST = "acme-events"

TAGGER = '''
"""A 7.2 filter: refuses (status 500) the objects named refuse-*, marks
the others, notes them in `output`, and with `set_property` tags new
objects in the namespace."""

import json

from oio.event.evob import Event, EventError, EventTypes
from oio.event.filters.base import Filter


class TaggerFilter(Filter):
    def init(self):
        self.output = self.conf["output"]
        self.tag = self.conf.get("tag", "acme")
        self.set_property = self.conf.get("set_property") == "yes"
        self.api = None

    def process(self, env, beanstalkd, cb):
        event = Event(env)
        url = event.url or {}
        path = url.get("path") or ""
        if path.startswith("refuse-"):
            resp = EventError(event=event, body="refused by the tagger")
            return resp(env, beanstalkd, cb)
        env["tagged_by"] = self.tag
        with open(self.output, "a") as out:
            out.write(json.dumps({"event": event.event_type, "path": path,
                                  "job_id": event.job_id}) + "\\n")
        if self.set_property and event.event_type == EventTypes.CONTENT_NEW:
            self.tag_object(url)
        return self.app(env, beanstalkd, cb)

    def tag_object(self, url):
        if self.api is None:
            from oio import ObjectStorageApi

            self.api = ObjectStorageApi(self.conf["namespace"])
        self.api.object_set_properties(
            url["account"], url["user"], url["path"],
            {"tagged-by": self.tag}, version=url.get("version"))


def filter_factory(global_conf, **local_conf):
    conf = global_conf.copy()
    conf.update(local_conf)

    def tagger(app):
        return TaggerFilter(app, conf)
    return tagger
'''


def write_plugin(root: Path) -> Path:
    """The package and its dist-info under `root`; `root` is what goes on
    sys.path (or PYTHONPATH)."""
    package = root / "acme_events"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tagger.py").write_text(TAGGER.lstrip())
    info = root / "acme_events-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[oio.event.filter_factory]\n"
        "tagger = acme_events.tagger:filter_factory\n")
    return root
