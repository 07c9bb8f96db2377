"""A short fuzz run inside ``make test``: the same properties as ``make fuzz`` (which
runs atheris for 100,000+ inputs per target), here under hypothesis for a few seconds.

Inputs are arbitrary bytes, JSON-shaped text, and valid frames with one value swapped
for a hostile one - where parser bugs hide.
"""

from __future__ import annotations

import orjson
from benchmarks.fuzz_targets import SEEDS, check_parse, probed_hub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _bent_seeds(draw: st.DrawFn) -> bytes:
    """A valid frame with one field replaced, removed or added."""
    frame = orjson.loads(draw(st.sampled_from(SEEDS)))
    key = draw(st.sampled_from([*frame.keys(), "extra", "seq", "type"]))
    if draw(st.booleans()):
        frame.pop(key, None)
    else:
        frame[key] = draw(_json_values)
    return orjson.dumps(frame)


_inputs = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(str.encode),
    _json_values.map(orjson.dumps),
    _bent_seeds(),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_inputs)
def test_the_parser_returns_a_frame_or_a_protocol_error_and_round_trips(data: bytes) -> None:
    check_parse(data)


def test_the_hub_answers_every_hostile_frame_and_stores_only_valid_updates() -> None:
    with probed_hub() as (probe, _):

        @settings(max_examples=300, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(_inputs)
        def send(data: bytes) -> None:
            probe.send(data.decode("utf-8", errors="replace"))

        send()
    # probed_hub() checked on exit that every stored update parses as a sync_update.
    assert probe.errors > 0
    assert probe.acks > 0
