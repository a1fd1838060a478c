"""What the tests share: builders, harnesses, stories, and runners of real processes."""

import pytest

# The stories assert in plain functions: let pytest explain a failing comparison there too.
pytest.register_assert_rewrite("tests.support.alert_stories", "tests.support.alert_desks")
