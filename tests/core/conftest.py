"""Settings for the core's tests; this folder also runs alone in a Qt-free venv."""

from hypothesis import settings

# Per-example deadlines turn a busy CI machine into flaky failures; the example counts
# are bounded instead.
settings.register_profile("syncwatch", deadline=None)
settings.load_profile("syncwatch")
