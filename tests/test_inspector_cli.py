"""``uedpo-inspect``: argument checks, one-line errors with exit code 2, local-only offline launch."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from inspector_fakes import free_port

from inspector import cli
from uedpo.models.tiny import build_tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny("llava", tmp_path_factory.mktemp("cli_ckpt"), seed=0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tau", "1.5"], "need 0 < --tau < 1"),
        (["--noise-step", "1000"], "0 <= --noise-step < 1000"),
    ],
)
def test_bad_numbers_exit_2(extra, message, capsys, tmp_path):
    assert cli.main(["--ckpt", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_exits_2_with_one_line(capsys, tmp_path):
    assert cli.main(["--ckpt", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("uedpo-inspect: checkpoint") and "directory not found" in err and "\n" not in err


def test_unusable_samples_file_exits_2(capsys, tmp_path, ckpt):
    (tmp_path / "s.jsonl").write_text(json.dumps({"id": "x"}) + "\n")
    assert cli.main(["--ckpt", str(ckpt), "--samples", str(tmp_path / "s.jsonl")]) == 2
    assert "no usable row" in capsys.readouterr().err


def test_build_binds_localhost_without_share_or_analytics(ckpt):
    args = cli.parser().parse_args(["--ckpt", str(ckpt), "--compare-ckpt", str(ckpt), "--alpha", "0.15"])
    demo, kwargs = cli.build(args)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False and kwargs["server_port"] is None
    assert kwargs["ssr_mode"] is False
    props = {c["props"].get("elem_id"): c["props"] for c in demo.get_config_file()["components"]}
    assert "analyze" in props and props["alpha"]["value"] == 0.15 and props["tau"]["value"] == 0.4


def test_gradio_is_not_imported_before_analytics_are_off():
    code = "import sys, inspector.cli; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_blindspot_file_opens_alone_or_joined_to_the_per_item_file(tmp_path, ckpt):
    from inspector_fakes import blindspot_fixture
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    rows = blindspot_fixture()
    (tmp_path / "blindspots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    session = cli.build_session(
        cli.parser().parse_args(["--ckpt", str(ckpt), "--samples", str(tmp_path / "blindspots.jsonl")])
    )
    assert [s.id for s in session.samples.samples] == ["1", "2", "3"] and session.samples.has_objects
    assert session.model_a.label == f"{ckpt} (no adapter)" and session.compare_fn is None
    bare = [{k: v for k, v in r.items() if k not in ("image", "question", "response")} for r in rows]
    (tmp_path / "bare.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bare))
    items = [
        {"bench": "amber", "id": i, "image": "img.png", "question": "Q?", "response": "a dog ."}
        for i in (1, 2)
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    args = [
        "--ckpt",
        str(ckpt),
        "--samples",
        str(tmp_path / "items.jsonl"),
        "--blindspots",
        str(tmp_path / "bare.jsonl"),
    ]
    joined = cli.build_session(cli.parser().parse_args(args)).samples
    assert [(s.id, s.kind, s.question) for s in joined.samples] == [
        ("1", "blindspots", "Q?"),
        ("2", "blindspots", "Q?"),
    ]
    assert len(joined.errors) == 1 and "blind-spot item '3' has no image or question" in joined.errors[0]


# -- serving: remote hosts, logins, ports (all checked before the model loads) ---------------------------------


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "inspector.example"])
def test_a_remote_host_without_a_login_needs_allow_remote(host, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(cli.AUTH_ENV, raising=False)
    assert cli.main(["--ckpt", str(tmp_path / "absent"), "--host", host]) == 2
    err = one_line(capsys)
    assert f"--host {host} serves other machines" in err and "--allow-remote" in err
    assert "UEDPO_INSPECT_AUTH=USER:PASSWORD" in err and "checkpoint" not in err  # before the model


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_no_login(host):
    assert cli.is_loopback(host)


def test_allow_remote_or_a_login_lets_a_remote_host_through(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(cli.AUTH_ENV, raising=False)
    absent = str(tmp_path / "absent")
    assert cli.main(["--ckpt", absent, "--host", "0.0.0.0", "--allow-remote"]) == 2
    assert "directory not found" in one_line(capsys)  # got as far as the checkpoint
    monkeypatch.setenv(cli.AUTH_ENV, "ada:s3cr3t:with-colon")
    assert cli.main(["--ckpt", absent, "--host", "0.0.0.0"]) == 2
    assert "directory not found" in one_line(capsys)
    args = cli.parser().parse_args(["--ckpt", absent])
    assert cli.resolve_auth(args) == ("ada", "s3cr3t:with-colon")  # split at the first colon
    args = cli.parser().parse_args(["--ckpt", absent, "--auth", "bob:pw"])
    assert cli.resolve_auth(args) == ("bob", "pw")  # the flag wins over the environment


@pytest.mark.parametrize("value", ["no-colon-secret", ":only-a-secret", "user:", " :x"])
def test_a_malformed_login_exits_2_without_echoing_it(value, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(cli.AUTH_ENV, raising=False)
    assert cli.main(["--ckpt", str(tmp_path), "--auth", value]) == 2
    err = one_line(capsys)
    assert err == "uedpo-inspect: --auth: expected USER:PASSWORD with a non-empty user and password"
    monkeypatch.setenv(cli.AUTH_ENV, value)
    assert cli.main(["--ckpt", str(tmp_path)]) == 2
    assert one_line(capsys) == (
        f"uedpo-inspect: {cli.AUTH_ENV}: expected USER:PASSWORD with a non-empty user and password"
    )


def test_a_port_in_use_exits_2_naming_the_port_and_the_fix(capsys, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["--ckpt", str(tmp_path / "absent"), "--port", str(port)]) == 2
    err = one_line(capsys)
    assert err == (
        f"uedpo-inspect: port {port} on 127.0.0.1 is already in use (another uedpo-inspect?); "
        f"pass --port N for a free port, or stop the server on {port}"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--port", "70000"], "--port 70000: not a TCP port; pass --port N with 1 <= N <= 65535"),
        (["--host", "256.1.1.1", "--allow-remote"], "--host 256.1.1.1: not an address or name this machine"),
        (["--host", "192.0.2.7", "--allow-remote"], "--host 192.0.2.7: cannot bind"),
        (["--concurrency", "0"], "need --concurrency >= 1 and --max-queue >= 1"),
        (["--max-queue", "0"], "need --concurrency >= 1 and --max-queue >= 1"),
    ],
)
def test_bad_serving_arguments_exit_2_with_one_line(extra, message, capsys, tmp_path):
    assert cli.main(["--ckpt", str(tmp_path / "absent"), *extra]) == 2
    assert one_line(capsys).startswith(f"uedpo-inspect: {message}")


def test_build_passes_the_login_queue_and_concurrency_to_gradio(ckpt, monkeypatch):
    monkeypatch.setenv(cli.AUTH_ENV, "ada:pw")
    args = cli.parser().parse_args(["--ckpt", str(ckpt), "--concurrency", "3", "--max-queue", "5"])
    demo, kwargs = cli.build(args)
    assert kwargs["auth"] == ("ada", "pw")
    assert demo._queue.max_size == 5 and demo._queue.default_concurrency_limit == 3
    analyse = next(d for d in demo.fns.values() if d.api_name == "analyse")
    assert analyse.concurrency_limit == 3 and analyse.concurrency_id == "forward"


def serve(ckpt, tmp_path, *extra):
    """``uedpo-inspect`` in a child process whose temporary folder is ``tmp_path / "tmp"``."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    env.pop(cli.AUTH_ENV, None)
    cmd = [sys.executable, "-m", "inspector.cli", "--ckpt", str(ckpt), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url + "config", timeout=2).read()
            return proc, tmp, url
        except urllib.error.HTTPError:  # 401 behind a login: it serves
            return proc, tmp, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"uedpo-inspect did not serve: {proc.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_ctrl_c_stops_the_server_and_leaves_no_temporary_folder(ckpt, tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "img.png")
    row = {"bench": "amber", "id": 1, "image": "img.png", "question": "Q?", "response": "a dog ."}
    (tmp_path / "s.jsonl").write_text(json.dumps(row) + "\n")
    proc, tmp, url = serve(ckpt, tmp_path, "--samples", str(tmp_path / "s.jsonl"))
    try:
        from gradio_client import Client

        out = Client(url, verbose=False, download_files=str(tmp_path / "dl")).predict(
            None, "1", "Q?", "a dog .", "", "", 0.3, 0.4, 500, "type", "u", None, api_name="/analyse"
        )
        assert out[0].startswith("✓ analysed"), out[0]
        made = [p.name for p in tmp.iterdir()]
        assert len(made) == 1 and made[0].startswith("uedpo-inspect-")  # gradio's cache is inside it
        assert (tmp / made[0] / "gradio").is_dir() and (tmp / made[0] / "previews").is_dir()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read()[-2000:]
    assert list(tmp.iterdir()) == []


@pytest.mark.slow
def test_a_login_guards_the_page_and_the_api_and_sigterm_cleans_up(ckpt, tmp_path):
    from gradio_client import Client

    proc, tmp, url = serve(ckpt, tmp_path, "--auth", "ada:pw-123")
    try:
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url + "gradio_api/info", timeout=10)
        assert denied.value.code == 401
        with pytest.raises(Exception):  # noqa: B017 (gradio_client's own error type varies)
            Client(url, verbose=False, auth=("ada", "wrong"))
        client = Client(url, verbose=False, auth=("ada", "pw-123"), download_files=str(tmp_path / "dl"))
        assert "/analyse" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert [p.name[:14] for p in tmp.iterdir()] == ["uedpo-inspect-"]
    finally:
        proc.send_signal(signal.SIGTERM)  # as a service manager stops it
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    out, err = proc.communicate()
    assert code == 0, err[-2000:]
    assert "pw-123" not in out + err  # the password is never printed
    assert list(tmp.iterdir()) == []


def test_a_failed_start_leaves_no_temporary_folder(ckpt, tmp_path):
    (tmp_path / "s.jsonl").write_text(json.dumps({"id": "x"}) + "\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "inspector.cli", "--ckpt", str(ckpt), "--samples", str(tmp_path / "s.jsonl")]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no usable row" in done.stderr
    assert list(tmp.iterdir()) == []
