"""Runs inside django-helpdesk's own venv (bench/.venv-helpdesk): feed it a directory of
messages through its `local` mailbox, one at a time, and print one JSON line of results.

Usage: python helpdesk_driver.py WORKDIR MAILDIR
Only for the comparison in bench/run.py; not part of maildaemon.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

workdir, maildir = Path(sys.argv[1]), Path(sys.argv[2])
(workdir / "bench_urls.py").write_text(
    "from django.urls import include, path\n"
    "urlpatterns = [path('helpdesk/', include('helpdesk.urls', namespace='helpdesk'))]\n"
)
sys.path.insert(0, str(workdir))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": str(workdir / "helpdesk.sqlite3")}},
    INSTALLED_APPS=[
        "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sites",
        "django.contrib.sessions", "django.contrib.messages", "django.contrib.humanize",
        "rest_framework", "helpdesk",
    ],
    SITE_ID=1,
    USE_TZ=True,
    MEDIA_ROOT=str(workdir / "media"),
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    DEFAULT_FROM_EMAIL="support@healthsync.com",
    ROOT_URLCONF="bench_urls",
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True, "OPTIONS": {"context_processors": []}}],
    LOGGING_CONFIG=None,
    HELPDESK_TEAMS_MODE_ENABLED=False,
)
django.setup()
logging.disable(logging.CRITICAL)

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

from helpdesk.email import process_email  # noqa: E402
from helpdesk.models import FollowUp, Queue, Ticket  # noqa: E402

Queue.objects.create(
    title="Support", slug="support", email_address="support@healthsync.com",
    allow_email_submission=True, email_box_type="local", email_box_interval=0,
    email_box_local_dir=str(workdir / "inbox"),
)
# It stops a whole run at the first message it cannot take, so we hand it one message at a
# time: its throughput is measured over the messages it did process, and the rest counted.
inbox = workdir / "inbox"
inbox.mkdir(exist_ok=True)
files = sorted(p for p in maildir.iterdir() if p.is_file())
processed = failed = 0
errors: list[str] = []
elapsed = 0.0
for path in files:
    target = inbox / path.name
    target.write_bytes(path.read_bytes())
    started = time.perf_counter()
    try:
        process_email(quiet=True)
    except Exception as exc:
        errors.append(f"{path.name}: {type(exc).__name__}")
    elapsed += time.perf_counter() - started
    if target.exists():
        failed += 1
        target.unlink()
    else:
        processed += 1
print(json.dumps({
    "messages": len(files), "processed": processed, "failed": failed,
    "tickets": Ticket.objects.count(), "followups": FollowUp.objects.count(),
    "seconds": round(elapsed, 3), "errors": errors[:5], "pid": os.getpid(),
}))
