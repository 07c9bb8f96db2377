"""The chaos harness (``make chaos``): the real hub, the demo, the full app, and faults.

Run ``python -m tests.chaos --minutes 10`` (``CHAOS_MINUTES`` sets the default). Only
``test_chaos_smoke.py`` is collected by pytest: a short run of the same harness.
See docs/reliability.md for what it injects, what it checks, and the figures.
"""
