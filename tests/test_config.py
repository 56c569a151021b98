"""Configuration sources and secrets, as units."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench.connectors import select
from loadbench.errors import ConfigError
from loadbench.run.config import PlanOptions, default_warmup, make_plan
from loadbench.secrets import redact_url, scrub, url_secrets
from loadbench.settings import Settings


def test_environment_wins_over_dotenv(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SEED_ACCOUNTS=10\nVERIFY=no\n")
    settings = Settings.load(env_file, environ={"SEED_ACCOUNTS": "20"})
    assert settings.integer("SEED_ACCOUNTS", 5, minimum=2) == 20
    assert settings.boolean("VERIFY", True) is False
    assert settings.get("VERIFY") == ("no", str(env_file))


def test_default_warmup_is_a_tenth_capped_at_30_seconds():
    assert default_warmup(10) == 1
    assert default_warmup(1000) == 30


def test_plan_defaults(tmp_path):
    settings = Settings({}, {}, None)
    plan = make_plan(settings, select(settings, tmp_path, None), PlanOptions(runs_dir=tmp_path))
    assert (plan.seconds, plan.concurrency, plan.alpha, plan.accounts) == (10, 10, 0.5, 100_000)
    assert plan.warmup_seconds == 1
    assert [c.name for c in plan.connectors] == ["sqlite"]
    assert plan.verify is True
    assert 0 < plan.seed < 2**63


def test_asking_for_an_unconfigured_connector_says_what_to_set(tmp_path, monkeypatch):
    from loadbench import connectors

    kind = connectors.ConnectorType("ghost", "never configured", "GHOST_URL", lambda settings, runs, choices: None)
    monkeypatch.setitem(connectors.CONNECTOR_TYPES, "ghost", kind)
    settings = Settings({}, {}, None)
    with pytest.raises(ConfigError, match="connector 'ghost' is not configured: set GHOST_URL"):
        select(settings, tmp_path, "ghost")
    assert [c.name for c in select(settings, tmp_path, None)] == ["sqlite"]  # skipped by default


@pytest.mark.parametrize("url, shown", [
    ("postgresql://bob:hunter2@db:5432/app", "postgresql://bob:***@db:5432/app"),
    ("postgresql://bob@db/app", "postgresql://bob@db/app"),
    ("postgresql://db/app?user=bob&password=hunter2", "postgresql://db/app?user=bob&password=***"),
    ("https://x.supabase.co/rest?apikey=abc123", "https://x.supabase.co/rest?apikey=***"),
])
def test_redact_url_hides_passwords(url, shown):
    assert redact_url(url) == shown
    for secret in url_secrets(url):
        assert secret not in redact_url(url)


def test_scrub_removes_known_secrets_and_inline_url_passwords():
    text = "connection to postgresql://bob:hunter2@db failed; password hunter2 rejected; token s3cr3t"
    cleaned = scrub(text, ["hunter2", "s3cr3t"])
    assert "hunter2" not in cleaned and "s3cr3t" not in cleaned
    assert scrub("see http://u:pw@h/x", []) == "see http://u:***@h/x"


@pytest.mark.parametrize("name, default", [("LOADBENCH_RUNS_DIR", "runs"), ("LOADBENCH_RESULTS_DIR", "results"),
                                           ("LOADBENCH_DB_DIR", "db")])
def test_an_empty_directory_setting_counts_as_unset(name, default):
    # Found by review: LOADBENCH_RUNS_DIR= wrote reports into the current directory.
    assert Settings({name: ""}, {}, None).path(name, default) == Path(default)
    assert Settings({}, {name: " "}, None).path(name, default) == Path(default)
    assert Settings({name: "elsewhere"}, {}, None).path(name, default) == Path("elsewhere")
