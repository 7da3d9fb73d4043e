"""az secrets against a real Secret Service (gnome-keyring-daemon) and the encrypted file backend."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

VALUE = "sk-ant-api03-KEYRINGTEST-0123456789abcdef"


def _files_contain(root: Path, needle: str) -> list[Path]:
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath, f)
            try:
                if needle.encode() in p.read_bytes():
                    hits.append(p)
            except OSError:
                pass
    return hits


# -- the Secret Service -----------------------------------------------------------------
def test_set_list_get_delete_through_the_secret_service(az, az_home, secret_service, tmp_path):
    env = dict(secret_service)
    r = az("secrets", "set", "ANTHROPIC_API_KEY", input=VALUE + "\n", env=env)
    assert r.returncode == 0, r
    assert "SecretService" in r.stdout and VALUE not in r.stdout + r.stderr

    listed = az("secrets", "list", "--json", env=env)
    assert {"name": "ANTHROPIC_API_KEY", "source": "keyring"} in listed.json()
    assert VALUE not in listed.stdout

    doctor = az("secrets", "doctor", "--json", env=env).json()
    assert doctor["backend"] == "keyring.backends.SecretService.Keyring"
    assert doctor["secure"] is True and doctor["usable"] is True

    # the kernel's lookup finds it (the environment has no such variable)
    from az_os.plugins import get_host

    os.environ.pop("ANTHROPIC_API_KEY", None)
    assert get_host().get_secret("ANTHROPIC_API_KEY") == VALUE
    assert "ANTHROPIC_API_KEY" in get_host().secret_names()

    # nowhere on disk in clear: not the index, not the az home, not the daemon's keyring file
    assert not _files_contain(az_home, VALUE)
    assert not _files_contain(Path(secret_service["HOME"]), VALUE)

    gone = az("secrets", "delete", "ANTHROPIC_API_KEY", env=env)
    assert gone.returncode == 0, gone
    assert az("secrets", "list", "--json", env=env).json() == [
        r for r in az("secrets", "list", "--json", env=env).json() if r["source"] == "environment"
    ]
    again = az("secrets", "delete", "ANTHROPIC_API_KEY", env=env)
    assert again.returncode != 0 and "no secret named ANTHROPIC_API_KEY" in again.stderr


def test_a_stored_key_never_reaches_a_shell_command(az, az_home, secret_service, scripted_env):
    pytest.importorskip("az_tools")
    pytest.importorskip("az_sqlite")
    env = dict(secret_service)
    assert (
        az("secrets", "set", "DEPLOY_TOKEN", input="tok-1234567890abcdef", env=env).returncode == 0
    )
    ws = az_home.parent / "ws"
    ws.mkdir()
    steps = [
        {"tool": "shell.execute", "arguments": {"command": 'echo "[$DEPLOY_TOKEN]"'}},
        {"answer": "done"},
    ]
    run_env = {**env, **scripted_env(steps), "DEPLOY_TOKEN": "tok-1234567890abcdef"}
    r = az("task", "run", "x", "--model", "cheap", "--workspace", str(ws), "--approve", "auto",
           "--json", env=run_env)  # fmt: skip
    assert r.returncode == 0, r
    shown = az("task", "show", r.json()["id"], "--json", env=run_env)
    assert "[]" in shown.stdout.replace("\\n", "\n")  # the command saw no value
    assert "tok-1234567890abcdef" not in shown.stdout


def test_value_is_never_taken_from_the_command_line(az, az_home, secret_service):
    r = az("secrets", "set", "OPENAI_API_KEY", VALUE, env=dict(secret_service))
    assert r.returncode != 0  # no VALUE argument exists
    r = az("secrets", "set", "not a name", input="x" * 20, env=dict(secret_service))
    assert r.returncode != 0 and "invalid secret name" in r.stderr
    r = az("secrets", "set", "EMPTY_KEY", input="\n", env=dict(secret_service))
    assert r.returncode != 0 and "empty" in r.stderr


# -- headless ------------------------------------------------------------------------
def test_headless_server_gets_a_clear_message_and_no_plain_text_file(az, az_home, headless):
    r = az("secrets", "set", "OPENAI_API_KEY", input=VALUE, env={})
    assert r.returncode != 0
    assert "no OS keyring is reachable" in r.stderr and "keyring.backend=cryptfile" in r.stderr
    assert not _files_contain(headless, VALUE) and not _files_contain(az_home, VALUE)
    doctor = az("secrets", "doctor", "--json", env={})
    assert doctor.returncode == 1 and doctor.json()["usable"] is False


# -- the encrypted file ---------------------------------------------------------------------
def test_cryptfile_backend(az, az_home, headless, monkeypatch):
    env = {"AZ_KEYRING__BACKEND": "cryptfile"}
    r = az("secrets", "set", "OPENAI_API_KEY", input=VALUE, env=env)
    assert r.returncode != 0 and "AZ_KEYRING_PASSPHRASE" in r.stderr  # never a prompt
    env["AZ_KEYRING_PASSPHRASE"] = "correct horse battery staple"
    r = az("secrets", "set", "OPENAI_API_KEY", input=VALUE, env=env)
    assert r.returncode == 0, r
    assert (az_home / "secrets.cfg").exists()
    assert not _files_contain(az_home, VALUE)  # encrypted on disk
    doctor = az("secrets", "doctor", "--json", env=env).json()
    assert doctor["secure"] is True and "CryptFileKeyring" in doctor["backend"]

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from az_os.config import load_config
    from az_os.plugins import get_host

    load_config()
    assert get_host().get_secret("OPENAI_API_KEY") == VALUE
    listed = az("secrets", "list", "--json", env=env)
    assert {"name": "OPENAI_API_KEY", "source": "keyring"} in listed.json()


def test_set_secret_hook_stores_in_the_keyring(az_home, monkeypatch, headless):
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_KEYRING__BACKEND", "cryptfile")
    monkeypatch.setenv("AZ_KEYRING_PASSPHRASE", "pass-phrase-for-tests")
    assert get_host().set_secret("AZ_SERVER_TOKEN", "server-token-abcdef123") is True
    monkeypatch.delenv("AZ_SERVER_TOKEN", raising=False)
    assert get_host().get_secret("AZ_SERVER_TOKEN") == "server-token-abcdef123"
    monkeypatch.delenv("AZ_KEYRING_PASSPHRASE")
    # no usable backend: the hook declines, the caller falls back
    assert get_host().set_secret("OTHER_TOKEN", "x" * 20) is False


def test_list_shows_environment_secrets_without_values(az, az_home, headless):
    r = az("secrets", "list", "--json", env={"GROQ_API_KEY": VALUE})
    assert {"name": "GROQ_API_KEY", "source": "environment"} in r.json()
    assert VALUE not in r.stdout
    text = az("secrets", "list", env={"GROQ_API_KEY": VALUE})
    assert "GROQ_API_KEY" in text.stdout and "environment" in text.stdout
    assert json.dumps(VALUE) not in text.stdout
