"""The ``queue:`` and ``state:`` sections, and the copy task's contract (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from adapter.cli.main import cli
from adapter.config import FreightlinerConfig
from adapter.queue.interface import CopyTask, task_key
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ConfigError

DIGEST = "sha256:" + "ab" * 32


def test_queue_without_shared_state_is_one_clear_error() -> None:
    with pytest.raises(ConfigError) as error:
        FreightlinerConfig.from_document({"queue": {"broker": "redis://r:6379/0"}}, "c.yaml")
    [problem] = error.value.diagnostics
    assert (problem.message, problem.file, problem.field) == (
        "queue mode needs the shared state database: add state.url (PostgreSQL)",
        "c.yaml",
        "queue",
    )


def test_broker_and_state_urls_are_checked() -> None:
    with pytest.raises(ConfigError) as error:
        FreightlinerConfig.from_document(
            {"queue": {"broker": "amqp://x"}, "state": {"url": "mysql://x"}}, "c.yaml"
        )
    assert sorted(d.field for d in error.value.diagnostics) == ["queue.broker", "state.url"]
    config = FreightlinerConfig.from_document(
        {
            "queue": {"broker": "redis://r:6379/0", "rate_limits": {"dst": 5}},
            "state": {"url": "postgresql://u@h/db"},
        }
    )
    assert config.queue is not None and config.queue.rate_limits == {"dst": 5.0}
    assert (config.queue.max_retries, config.queue.visibility_timeout_seconds) == (5, 300.0)
    assert FreightlinerConfig.from_document({}).queue is None  # embedded stays the default


def _image() -> ImageMetadata:
    return ImageMetadata.model_validate(
        {"registry": "src", "repository": "team/app", "tag": "v1", "digest": DIGEST, "size": 1}
    )


def test_a_task_carries_one_replication_of_the_decided_digest() -> None:
    action = DecisionAction(type="replicate", target_registry="dst", target_repo="m/app")
    decision = ReplicationDecision(should_replicate=True, actions=[action], reason="r")
    task = CopyTask(sweep_id=1, policy_id="p", image=_image(), decision=decision)
    assert (task.source_digest, task.target) == (DIGEST, "dst/m/app:v1")
    assert task.key == task_key(DIGEST, "dst/m/app:v1") == task_key(DIGEST, "dst/m/app:v1")
    assert task.key != task_key(DIGEST, "dst/m/app:v2")
    assert CopyTask.model_validate(task.model_dump(mode="json")) == task
    two = decision.model_copy(update={"actions": [action, action]})
    with pytest.raises(ValidationError, match="exactly one replicate action"):
        CopyTask(sweep_id=1, policy_id="p", image=_image(), decision=two)


def test_worker_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0
    assert "freightliner-policy worker --config /etc/freightliner/config.yaml" in result.output
    assert "--concurrency" in result.output and "--pool" in result.output


def test_worker_without_queue_settings_exits_3_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("registries: {}\n")
    result = CliRunner().invoke(cli, ["worker", "--config", str(config)])
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [
        f"error: {config}: the worker needs queue.broker (Redis) and state.url (PostgreSQL)"
    ]
