"""Where the suite finds its servers: ``make test`` starts them and sets these."""

from __future__ import annotations

import os

POSTGRES_URL = os.environ.get("RAPPORT_TEST_DATABASE_URL")
KAFKA_BOOTSTRAP = os.environ.get("RAPPORT_TEST_KAFKA_BOOTSTRAP")
