"""The files in ``deploy/`` are what an admin installs: each must load as the program reads it and
name only files that exist (the compose file is not run here; Docker is not on the CI machine)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from ivr.config import load_config
from tests.telephony.harness.dispatcher import SHIPPED_CONFIG, SHIPPED_LIST

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPO = DEPLOY.parent


def named_files(compose: dict[str, object]) -> list[Path]:
    """Every local file the compose file names: build contexts and Dockerfiles, bind-mounted
    volumes, secrets."""
    found: list[Path] = []
    services = compose["services"]
    assert isinstance(services, dict)
    for service in services.values():
        build = service.get("build")
        if isinstance(build, dict):
            context = DEPLOY / build["context"]
            found += [context, context / build.get("dockerfile", "Dockerfile")]
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith((".", "/")):
                found.append(DEPLOY / source)
    secrets = compose.get("secrets", {})
    assert isinstance(secrets, dict)
    found += [DEPLOY / s["file"] for s in secrets.values() if "file" in s]
    return found


def test_the_compose_file_parses_and_every_file_it_names_exists() -> None:
    compose = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"kamailio", "postgres"} <= set(services)
    nodes = [name for name in services if name.startswith("node")]
    assert len(nodes) >= 2, "a line behind Kamailio needs several nodes"
    missing = [str(path) for path in named_files(compose) if not path.exists()]
    assert not missing, f"compose.yaml names files that do not exist: {missing}"
    for name in nodes:  # each node runs its own settings file
        assert any(f"nodes/{name}.toml" in str(v) for v in services[name]["volumes"]), name


@pytest.mark.parametrize("node", sorted(p.stem for p in (DEPLOY / "nodes").glob("*.toml")))
def test_each_shipped_node_config_loads_and_is_in_the_dispatcher_list(node: str) -> None:
    config = load_config(DEPLOY / "nodes" / f"{node}.toml")  # typed and strict: a typo fails here
    assert (REPO / config.line.flow).is_file()
    assert config.sip.mode == "direct" and config.sip.allows("127.0.0.1")  # Kamailio may call it
    host, port = config.sip.bind_address
    listed = SHIPPED_LIST.read_text(encoding="utf-8")
    assert f"sip:{host}:{port} " in listed, f"{node} ({host}:{port}) is not in {SHIPPED_LIST.name}"


def test_every_node_shares_the_compose_files_postgresql_under_a_name_of_its_own() -> None:
    compose = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    database = services["postgres"]["environment"]
    configs = {p.stem: load_config(p) for p in sorted((DEPLOY / "nodes").glob("*.toml"))}
    urls = set()
    for name, config in configs.items():
        assert config.records.url is not None, f"{name} keeps a register of its own"
        url = urlsplit(config.records.url.get_secret_value())
        assert url.password is None, f"{name}'s settings hold the database password"
        assert (url.username, url.path) == (database["POSTGRES_USER"], "/" + database["POSTGRES_DB"])
        urls.add(url.geturl())
        assert "postgres_password" in services[name]["secrets"]  # where its PGPASSWORD comes from
    assert len(urls) == 1, f"the nodes name different registers: {sorted(urls)}"
    assert len({c.node for c in configs.values()}) == len(configs), "two nodes share a name"


def test_the_node_unit_restarts_a_node_whose_line_broke() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "systemd" / "ivr-node@.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].split()[1:] == ["serve", "--config", "/etc/ivr/%i.toml"]
    assert service["Restart"] == "on-failure"  # `ivr serve` exits 70 when its line breaks
    assert service["KillSignal"] == "SIGTERM"  # a drain: 503 to new calls, goodbyes to live ones


@pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio is not installed")
def test_kamailio_accepts_the_shipped_config_as_shipped() -> None:
    done = subprocess.run(
        ["kamailio", "-c", "-f", str(SHIPPED_CONFIG), "-A", f'DISPATCHER_LIST="{SHIPPED_LIST}"'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
