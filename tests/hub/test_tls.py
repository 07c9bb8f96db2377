"""wss:// with a certificate made for the test by the openssl command-line tool."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from syncwatch.core.protocol import Ack, Hello
from syncwatch.hub import Role
from tests.hub.wire import publish, publisher, recv_frame, run, update_json
from tests.support.hubproc import running_hub


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def test_wss_with_a_trusted_certificate(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tokens = {"pub-token": Role.PUBLISHER}
    with running_hub(tmp_path, tokens=tokens, tls_cert=cert, tls_key=key) as hub:
        assert hub.url.startswith("wss://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert))

        async def body() -> None:
            async with publisher(
                hub.url, additional_headers={"Authorization": "Bearer pub-token"}, ssl=trusting
            ) as pub:
                [ack] = await publish(pub, [update_json()])
                assert isinstance(ack, Ack)
                assert ack.seq == 1
            # A client that does not trust the certificate cannot connect.
            with pytest.raises(ssl.SSLCertVerificationError):
                async with connect(hub.url + "/v1/subscribe", ssl=ssl.create_default_context()):
                    pass
            async with connect(hub.url + "/v1/subscribe?token=pub-token", ssl=trusting) as ws:
                assert isinstance(await recv_frame(ws), Hello)

        run(body())
