"""Which backend a command uses (DESIGN §3), and where the cloud backend points. No live cloud."""

from __future__ import annotations

import pytest

from agentctl.access import Credentials, ResolvedAccess
from agentctl.backends.cloud import CloudBackend, cloud_region, control_url
from agentctl.backends.factory import choose
from agentctl.backends.local import gateway_invoke_url
from agentctl.errors import AuthError, BackendError, BadInput, NotFound

CLOUD = Credentials("LTAIkey", "secret", account_id="1234", region="cn-shanghai")
LOCAL = Credentials("lk", "ls", endpoint="http://127.0.0.1:50123")


@pytest.mark.parametrize("resolved,kind", [
    (ResolvedAccess("default", CLOUD, "default"), "cloud"),
    (ResolvedAccess("prod", CLOUD, "s.yaml"), "cloud"),
    (ResolvedAccess("env", CLOUD, "environment"), "cloud"),
    (ResolvedAccess("local", LOCAL, "--access"), "local"),
    (ResolvedAccess("copy", LOCAL, "s.yaml"), "local"),
])
def test_alias_with_keys_picks_backend_by_where_it_points(resolved: ResolvedAccess, kind: str) -> None:
    choice = choose(resolved)
    assert choice.kind == kind and choice.note is None


def test_missing_spec_alias_falls_back_to_local_and_says_so() -> None:
    choice = choose(ResolvedAccess("prod", None, "s.yaml"))
    assert choice.kind == "local"
    assert choice.note and "access 'prod' is not configured" in choice.note and "local emulator" in choice.note


def test_no_default_alias_falls_back_to_local() -> None:
    assert choose(ResolvedAccess("default", None, "default")).kind == "local"


def test_missing_alias_given_with_dash_a_is_an_error() -> None:
    with pytest.raises(NotFound, match="no credential alias 'nope'"):
        choose(ResolvedAccess("nope", None, "--access"))


def test_backend_flag_forces_the_choice() -> None:
    assert choose(ResolvedAccess("default", CLOUD, "default"), "local").kind == "local"
    assert choose(ResolvedAccess("prod", CLOUD, "s.yaml"), "cloud").kind == "cloud"
    with pytest.raises(AuthError, match="needs cloud credentials"):
        choose(ResolvedAccess("prod", None, "s.yaml"), "cloud")
    with pytest.raises(AuthError):
        choose(ResolvedAccess("local", LOCAL, "--access"), "cloud")
    with pytest.raises(BadInput, match="not one of"):
        choose(ResolvedAccess("default", CLOUD, "default"), "moon")


def test_cloud_control_url_is_regional_unless_the_alias_names_an_endpoint() -> None:
    assert control_url("cn-hangzhou", CLOUD) == "https://agentrun.cn-hangzhou.aliyuncs.com"
    custom = Credentials("k", "s", endpoint="agentrun-vpc.cn-beijing.aliyuncs.com")
    assert control_url("cn-beijing", custom) == "https://agentrun-vpc.cn-beijing.aliyuncs.com"


def test_cloud_region_prefers_spec_then_alias_then_default() -> None:
    assert cloud_region("ap-southeast-1", CLOUD) == "ap-southeast-1"
    assert cloud_region(None, CLOUD) == "cn-shanghai"
    assert cloud_region(None, None) == "cn-hangzhou"


def test_cloud_invoke_url_is_the_endpoint_public_url() -> None:
    backend = CloudBackend(client=None, region="cn-hangzhou", alias="default")  # type: ignore[arg-type]
    url = "https://1234.agentrun-data.cn-hangzhou.aliyuncs.com/agent-runtimes/echo/endpoints/default/invocations/"
    runtime = {"agentRuntimeName": "echo"}
    assert backend.invoke_url(runtime, {"endpointPublicUrl": url}) == url.rstrip("/")
    with pytest.raises(BackendError, match="no public URL"):
        backend.invoke_url(runtime, {"agentRuntimeEndpointName": "default"})


def test_local_invoke_url_has_the_cloud_path_shape() -> None:
    assert gateway_invoke_url("http://127.0.0.1:9001/", "echo", "production") == (
        "http://127.0.0.1:9001/agent-runtimes/echo/endpoints/production/invocations")
