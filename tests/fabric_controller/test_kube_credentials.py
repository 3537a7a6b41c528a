"""Finding the API server and proving who we are: settings, service-account files, rotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabric_controller.kube.credentials import TokenFile, api_url, connect, tls_context
from fabric_controller.kube.errors import KubeApiError, KubeConfigError
from fabric_controller.kube.objects import NODES
from fabric_controller.kube.settings import KubeSettings
from tests.fabric_controller.kube_fake import FakeKube, serve

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


@pytest.mark.parametrize(
    ("env", "url"),
    [
        pytest.param({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, "https://10.96.0.1:443", id="v4"),
        pytest.param(
            {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"},
            "https://[fd00::1]:6443",
            id="v6-bracketed",
        ),
    ],
)
def test_in_cluster_url_comes_from_the_service_environment(env: dict[str, str], url: str) -> None:
    assert api_url(KubeSettings(), env) == url


def test_explicit_url_wins_and_no_url_at_all_is_a_config_error() -> None:
    assert api_url(KubeSettings(api_url="https://k8s:6443/"), {}) == "https://k8s:6443"
    with pytest.raises(KubeConfigError, match="API_URL"):
        api_url(KubeSettings(), {})


def test_token_file_is_read_again_when_it_rotates(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    source = TokenFile(path)
    assert source() == "first"
    path.write_text("second-longer\n")
    assert source() == "second-longer"
    path.unlink()
    assert source() == "second-longer"  # a file briefly missing during rotation


def test_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    settings = KubeSettings(service_account_dir=tmp_path)
    with pytest.raises(KubeConfigError, match=r"ca\.crt"):
        tls_context(settings, in_cluster=True)
    assert tls_context(KubeSettings(api_url="https://k8s"), in_cluster=False) is True


def test_token_and_token_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token_file"):
        KubeSettings(token="x", token_file=tmp_path / "t")


@pytest.mark.parametrize(
    "timings",
    [
        pytest.param({"lease_duration": 10.0, "renew_deadline": 10.0}, id="deadline=duration"),
        pytest.param({"renew_deadline": 1.0, "retry_period": 2.0}, id="retry>deadline"),
        pytest.param({"backoff_initial": 9.0, "backoff_max": 1.0}, id="backoff"),
    ],
)
def test_unsafe_timings_are_refused(timings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        KubeSettings(**timings)


async def test_bearer_token_from_a_file_reaches_the_server(tmp_path: Path) -> None:
    fake = FakeKube(token="s3cret")
    token = tmp_path / "token"
    token.write_text("s3cret")
    async with serve(fake) as url:
        good = connect(KubeSettings(api_url=url, token_file=token))
        bad = connect(KubeSettings(api_url=url))
        try:
            assert (await good.list(NODES)).items == []
            with pytest.raises(KubeApiError) as info:
                await bad.list(NODES)
            assert info.value.code == 401
            fake.token = "rotated"
            token.write_text("rotated")
            assert (await good.list(NODES)).items == []
        finally:
            await good.aclose()
            await bad.aclose()


async def test_inline_token_from_settings(tmp_path: Path) -> None:
    fake = FakeKube(token="inline")
    async with serve(fake) as url:
        api = connect(KubeSettings(api_url=url, token="inline"))
        try:
            assert (await api.list(NODES)).resource_version == str(fake.rv)
        finally:
            await api.aclose()
