"""Where the API server is and how to prove who we are: explicit settings, or the in-cluster
service account (``KUBERNETES_SERVICE_HOST``/``_PORT`` and the mounted token and CA)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx

from fabric_controller.kube.client import HttpKubeApi, TokenAuth
from fabric_controller.kube.errors import KubeConfigError
from fabric_controller.kube.settings import KubeSettings


class TokenFile:
    """A token file re-read whenever it changes on disk (kubelet rotates bound tokens)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._token: str | None = None

    def __call__(self) -> str | None:
        try:
            st = self.path.stat()
        except OSError:
            return self._token
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._token = self.path.read_text().strip() or None
            self._stamp = stamp
        return self._token


def api_url(settings: KubeSettings, env: Mapping[str, str]) -> str:
    if settings.api_url:
        return settings.api_url.rstrip("/")
    host = env.get("KUBERNETES_SERVICE_HOST")
    port = env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeConfigError(
            "no Kubernetes API: set FLATNET_CONTROLLER_KUBE__API_URL or run in a pod"
        )
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port}"


def token_source(settings: KubeSettings, *, in_cluster: bool) -> TokenFile | None:
    if settings.token_file is not None:
        return TokenFile(settings.token_file)
    if in_cluster:
        return TokenFile(settings.service_account_dir / "token")
    return None


def tls_context(settings: KubeSettings, *, in_cluster: bool) -> ssl.SSLContext | bool:
    ca = settings.ca_file
    if ca is None and in_cluster:
        ca = settings.service_account_dir / "ca.crt"
    if ca is None:
        return True
    if not ca.exists():
        raise KubeConfigError(f"CA file {ca} does not exist")
    return ssl.create_default_context(cafile=str(ca))


def connect(
    settings: KubeSettings,
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpKubeApi:
    """An API client for ``settings``; the caller closes it with ``aclose()``."""
    env = os.environ if env is None else env
    in_cluster = not settings.api_url
    url = api_url(settings, env)
    if settings.token is not None:
        secret = settings.token.get_secret_value()

        def token() -> str | None:
            return secret

        auth: TokenAuth | None = TokenAuth(token)
    else:
        source = token_source(settings, in_cluster=in_cluster)
        auth = None if source is None else TokenAuth(source)
    http = httpx.AsyncClient(
        base_url=url,
        auth=auth,
        verify=tls_context(settings, in_cluster=in_cluster),
        transport=transport,
        headers={"Accept": "application/json", "User-Agent": "flatnet-fabric-controller"},
    )
    return HttpKubeApi(
        http, request_timeout=settings.request_timeout, watch_read_slack=settings.watch_read_slack
    )
