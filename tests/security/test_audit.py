"""The security audit list: every protection, and the tests that fail if it is removed.

Most guards live beside the code they test (tests/hub, tests/client, tests/qt); this
list names them in one place (docs/reliability.md prints the same table), and the test
below fails if a listed guard is renamed or deleted, so that the audit cannot silently
lose a line. What no other folder covered is in this folder.
"""

from __future__ import annotations

import importlib
from typing import Final

import pytest

#: protection -> tests ("module::function") that fail when it is taken away.
AUDIT: Final[dict[str, tuple[str, ...]]] = {
    "token auth: missing/wrong token 401, viewer token on /v1/publish 403": (
        "tests.hub.test_http::test_tokens_decide_who_may_subscribe_and_publish",
        "tests.hub.test_http::test_viewer_token_gets_snapshot_but_cannot_publish_through_subscribe",
        "tests.client.test_connection::test_auth_failure_is_an_error_without_a_retry_loop",
        "tests.client.test_reporter::test_a_refused_token_raises_a_clear_error_instead_of_retrying",
    ),
    "browser Origin allow-list (loopback by default)": (
        "tests.hub.test_http::test_browser_origins_must_be_loopback_or_listed",
    ),
    "TLS: an untrusted certificate is refused": (
        "tests.hub.test_tls::test_wss_with_a_trusted_certificate",
        "tests.client.test_connection_faults::test_wss_with_an_untrusted_certificate_is_an_error",
        "tests.client.test_reporter::"
        "test_wss_works_with_the_hubs_ca_file_and_an_untrusted_certificate_is_a_clear_error",
    ),
    "TLS: a certificate for another host name is refused": (
        "tests.client.test_connection_faults::"
        "test_wss_with_a_certificate_for_another_name_is_an_error",
    ),
    "tokens absent from logs (hub and app, Bearer and ?token=)": (
        "tests.hub.test_http::test_tokens_never_reach_the_logs",
        "tests.client.test_connection::test_token_in_the_url_is_never_shown",
        "tests.client.test_connection_rules::test_public_url_drops_credentials_and_token",
        "tests.packaging.test_diagnostics::test_settings_lose_their_secrets_but_keep_everything_else",
        "tests.security.test_secrets_end_to_end::"
        "test_no_token_reaches_a_log_a_database_or_the_settings",
    ),
    "token kept in a 0600 file, never in the INI": (
        "tests.qt.test_settings::test_token_lives_in_a_file_only_the_user_can_read",
        "tests.client.test_token_store::"
        "test_without_a_keyring_the_token_lives_in_a_file_only_the_user_can_read",
        "tests.security.test_secrets_end_to_end::"
        "test_no_token_reaches_a_log_a_database_or_the_settings",
    ),
    "token in the desktop keyring when there is one: no file, not in the INI or any log": (
        "tests.client.test_token_store::"
        "test_a_saved_token_goes_into_the_keyring_and_nowhere_on_disk",
        "tests.client.test_token_store::test_a_token_file_from_before_the_keyring_is_moved_into_it",
        "tests.client.test_token_store::"
        "test_a_locked_keyring_nobody_unlocks_refuses_the_save_and_keeps_the_old_token",
        "tests.security.test_secrets_end_to_end::"
        "test_a_token_in_the_desktop_keyring_connects_the_app_and_never_touches_the_disk",
    ),
    "frame size limit (1009) and binary frames (1003)": (
        "tests.hub.test_publish::test_a_frame_over_the_size_limit_closes_with_1009",
        "tests.hub.test_publish::test_binary_frames_close_the_connection_with_1003",
    ),
    "publisher rate limit (throttle, then 1008)": (
        "tests.hub.test_publish::test_a_flooding_publisher_is_throttled_then_closed_with_1008",
        "tests.hub.test_ratelimit::test_throttled_without_a_break_for_longer_than_the_grace_is_a_flood",
    ),
    "slow viewer cannot grow the hub's memory": (
        "tests.hub.test_slow_viewer::test_a_stalled_viewer_falls_behind_and_is_served_from_the_log",
    ),
    "a publisher cannot make the hub hold unbounded operations": (
        "tests.hub.test_active_bound::"
        "test_updates_starting_operations_beyond_the_bound_are_refused_one_by_one",
        "tests.hub.test_finished_bound::"
        "test_snapshots_hold_the_newest_finished_within_the_bound_and_every_active_one",
        "tests.hub.test_abandon::"
        "test_an_idle_active_operation_is_failed_by_the_hub_and_viewers_see_it_live",
    ),
    "invalid input refused with an error naming the field, nothing stored": (
        "tests.hub.test_publish::test_invalid_input_gets_an_error_naming_the_field_and_nothing_is_stored",
        "tests.fuzz.test_fuzz_short::test_the_hub_answers_every_hostile_frame_and_stores_only_valid_updates",
        "tests.fuzz.test_fuzz_short::test_the_parser_returns_a_frame_or_a_protocol_error_and_round_trips",
    ),
    "hostile settings and URLs refused with a message": (
        "tests.qt.test_settings::test_hostile_values_are_refused_with_a_message_and_never_saved",
        "tests.security.test_hostile_settings::test_hub_urls_are_accepted_only_when_usable",
        "tests.security.test_hostile_settings::test_tokens_are_single_printable_words",
        "tests.security.test_hostile_settings::test_ca_files_must_exist_and_be_files",
        "tests.security.test_hostile_settings::"
        "test_credentials_in_a_url_are_refused_with_a_pointer_to_the_token_field",
    ),
}  # fmt: skip


@pytest.mark.parametrize("protection", sorted(AUDIT))
def test_every_protection_has_a_guard_that_still_exists(protection: str) -> None:
    for reference in AUDIT[protection]:
        module_name, _, function = reference.partition("::")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, function, None)), f"{reference} is gone ({protection})"
