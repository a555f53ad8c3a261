"""`celery -A agents.worker_entry worker|beat`: the one module that builds the app when imported.

Only Celery's command line imports it; everything else calls `agents.celery_app.create_app()`.
"""

from __future__ import annotations

from agents.celery_app import create_app

app = create_app()
