"""Inference checks are never stuck and never take the worker down: too-large models are skipped before
loading, out of memory and the time limit end `failed`, and the beat sweep re-sends checks a lost broker
message or a dead worker left `pending`/`running` (giving up, as "worker lost", after INFERENCE_MAX_ATTEMPTS).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from registry import tasks
from registry.inference import smoke
from registry.models import InferenceCheck
from registry.services.inference import inference_checks_requeue_stale
from tests.registry.services.test_validation_pipeline import good_model

# --- device memory ------------------------------------------------------------------------------------


def test_model_over_the_memory_budget_is_skipped_before_loading(inspector, make_repo, tiny_model, settings,
                                                                monkeypatch):
    settings.INFERENCE_MAX_MODEL_BYTES = 1_000_000  # 1 MB: the tiny model + margin needs more
    loaded = []
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained",
                        lambda *a, **kw: loaded.append(a))
    check = inspector.execute(inspector.request(make_repo(), tiny_model.path))

    assert check.status == "skipped"
    assert "too large for this worker" in check.reason
    assert "needs ~" in check.reason and "cpu has 1.0 MB (INFERENCE_MAX_MODEL_BYTES)" in check.reason
    params = sum(t.numel() for t in tiny_model.state_dict.values())
    assert check.metrics["parameters"] == params
    assert check.metrics["estimated_memory_bytes"] > params * 4
    assert loaded == []  # nothing was loaded


def test_model_within_the_budget_runs(inspector, make_repo, tiny_model, settings):
    params = sum(t.numel() for t in tiny_model.state_dict.values())
    settings.INFERENCE_MAX_MODEL_BYTES = smoke.estimate_memory_bytes(params, 4)  # exactly enough
    check = inspector.execute(inspector.request(make_repo(), tiny_model.path))
    assert check.status == "passed", check.reason


def test_parameter_count_comes_from_the_safetensors_headers(tiny_model):
    weights = sorted(tiny_model.path.glob("*.safetensors"))
    assert smoke.safetensors_parameter_count(weights) == sum(t.numel() for t in tiny_model.state_dict.values())


def test_automatic_cpu_budget_is_a_share_of_available_ram(monkeypatch):
    monkeypatch.setattr(smoke, "available_ram_bytes", lambda: 8_000_000_000)
    assert smoke.device_memory_budget(None, "cpu", 0) == (4_000_000_000, "50% of available RAM")
    assert smoke.device_memory_budget(None, "cpu", 123) == (123, "INFERENCE_MAX_MODEL_BYTES")


def test_available_ram_is_read_from_this_machine():
    assert smoke.available_ram_bytes() > 64 * 1024 * 1024


def test_broken_safetensors_header_fails_with_a_reason(inspector, make_repo, model_copy):
    (model_copy / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    check = inspector.execute(inspector.request(make_repo(), model_copy))
    assert check.status == "failed" and "safetensors header" in check.reason


# --- out of memory and the time limit -------------------------------------------------------------------


def test_out_of_memory_during_generation_fails_and_the_next_check_runs(inspector, make_repo, tiny_model,
                                                                        monkeypatch):
    real_generate = smoke._generate

    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("cannot allocate 4096 MB")

    monkeypatch.setattr(smoke, "_generate", exhausted)
    first = inspector.execute(inspector.request(make_repo("first"), tiny_model.path))
    assert first.status == "failed"
    assert "out of memory on cpu" in first.reason and "cannot allocate 4096 MB" in first.reason
    assert first.finished_at is not None

    monkeypatch.setattr(smoke, "_generate", real_generate)  # the same process takes the next job
    second = inspector.execute(inspector.request(make_repo("second"), tiny_model.path))
    assert second.status == "passed", second.reason


def test_out_of_memory_while_loading_is_not_reported_as_a_broken_model(inspector, make_repo, tiny_model,
                                                                        monkeypatch):
    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("no room for the weights")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", exhausted)
    check = inspector.execute(inspector.request(make_repo(), tiny_model.path))
    assert check.status == "failed"
    assert check.reason.startswith("out of memory") and "could not load" not in check.reason


@pytest.mark.parametrize("where", ["loading", "generating"])
def test_soft_time_limit_ends_the_check_failed(inspector, make_repo, tiny_model, monkeypatch, settings, where):
    settings.INFERENCE_TIME_LIMIT_SECONDS = 60

    def too_slow(*args: Any, **kwargs: Any) -> Any:
        raise SoftTimeLimitExceeded()

    if where == "loading":
        monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", too_slow)
    else:
        monkeypatch.setattr(smoke, "_generate", too_slow)
    check = inspector.execute(inspector.request(make_repo(), tiny_model.path))
    assert check.status == "failed"
    assert "time limit (60 s)" in check.reason


def test_task_time_limits_come_from_the_setting():
    from django.conf import settings

    assert tasks.inference_run_check.soft_time_limit == settings.INFERENCE_TIME_LIMIT_SECONDS
    assert tasks.inference_run_check.time_limit > tasks.inference_run_check.soft_time_limit


# --- the sweep ----------------------------------------------------------------------------------------


def age(check: InferenceCheck, **fields: Any) -> None:
    InferenceCheck.objects.filter(pk=check.pk).update(**fields)


def test_sweep_resends_a_pending_check_nobody_took(inspector, make_repo, settings):
    settings.INFERENCE_STALE_MINUTES = 15
    check = inspector.request(make_repo(), **good_model())
    inspector.checks.clear()
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == []  # young: left alone
    age(check, created_at=timezone.now() - timedelta(minutes=16))
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == [check.pk]
    assert inspector.checks == [check.pk]
    check.refresh_from_db()
    assert check.status == "pending" and check.heartbeat_at is not None
    with inspector.capture(execute=True):  # just re-sent: not again on the next sweep
        assert inference_checks_requeue_stale() == []


def test_broker_outage_leaves_the_check_pending_and_the_sweep_sends_it_later(inspector, make_repo, monkeypatch):
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("redis:6379")

    monkeypatch.setattr(tasks.inference_run_check, "apply_async", broker_down)
    check = inspector.request(make_repo(), **good_model())  # the commit itself does not fail
    assert InferenceCheck.objects.get(pk=check.pk).status == "pending"
    monkeypatch.setattr(tasks.inference_run_check, "apply_async",
                        lambda args, **kw: inspector.checks.append(args[0]))
    age(check, created_at=timezone.now() - timedelta(hours=1))
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == [check.pk]
    assert inspector.checks == [check.pk]
    assert inspector.execute(check).is_finished


def test_sweep_requeues_a_running_check_whose_worker_died(inspector, make_repo, settings):
    settings.INFERENCE_TIME_LIMIT_SECONDS = 600
    check = inspector.request(make_repo(), **good_model())
    now = timezone.now()
    age(check, status="running", attempts=1, started_at=now - timedelta(minutes=5),
        heartbeat_at=now - timedelta(minutes=5))
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == []  # within the time limit: its worker may be busy
    age(check, heartbeat_at=now - timedelta(seconds=600 + 121))
    inspector.checks.clear()
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == [check.pk]
    assert inspector.checks == [check.pk]
    check = inspector.execute(check)  # the next worker takes it and finishes it
    assert check.attempts == 2 and check.is_finished and "worker lost" not in check.reason


def test_sweep_gives_up_after_max_attempts_with_worker_lost(inspector, make_repo, settings):
    settings.INFERENCE_MAX_ATTEMPTS = 2
    check = inspector.request(make_repo(), **good_model())
    long_ago = timezone.now() - timedelta(days=1)
    age(check, status="running", attempts=2, started_at=long_ago, heartbeat_at=long_ago)
    inspector.checks.clear()
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == []
    check.refresh_from_db()
    assert check.status == "failed" and check.reason.startswith("worker lost")
    assert check.finished_at is not None and inspector.checks == []


def test_redelivered_message_after_max_attempts_fails_with_worker_lost(inspector, make_repo, settings):
    settings.INFERENCE_MAX_ATTEMPTS = 1
    check = inspector.request(make_repo(), **good_model())
    long_ago = timezone.now() - timedelta(days=1)
    age(check, status="running", attempts=1, started_at=long_ago, heartbeat_at=long_ago)
    assert tasks.inference_run_check(check.pk) == "failed"
    check.refresh_from_db()
    assert "worker lost" in check.reason


def test_a_running_check_with_a_live_worker_is_not_taken_over(inspector, make_repo):
    check = inspector.request(make_repo(), **good_model())
    age(check, status="running", attempts=1, started_at=timezone.now(), heartbeat_at=timezone.now())
    # The live worker holds the check's job lease (registry/services/jobs.py); a second copy of the message does
    # nothing.
    from registry.services import jobs

    assert jobs._claim("registry.inference.run_check", check.pk, "gpu@other").run
    assert tasks.inference_run_check(check.pk) == "skipped: held"
    assert InferenceCheck.objects.get(pk=check.pk).attempts == 1
    assert InferenceCheck.objects.get(pk=check.pk).status == "running"


def test_a_running_check_whose_worker_died_is_taken_over_as_soon_as_its_job_is(inspector, make_repo):
    """The job lease ran out (registry.sweep_jobs put the job back): the next worker takes over at once, without
    waiting for the check's own hard-time-limit staleness rule."""
    check = inspector.request(make_repo(), **good_model())
    age(check, status="running", attempts=1, started_at=timezone.now(), heartbeat_at=timezone.now())
    assert tasks.inference_run_check(check.pk) in ("passed", "failed", "skipped")
    assert InferenceCheck.objects.get(pk=check.pk).attempts == 2


def test_finished_checks_are_never_swept(inspector, make_repo):
    check = inspector.request(make_repo(), **good_model())
    age(check, status="failed", created_at=timezone.now() - timedelta(days=3))
    with inspector.capture(execute=True):
        assert inference_checks_requeue_stale() == []


def test_sweep_is_scheduled_on_the_validation_queue(settings):
    from celery import current_app

    entry = settings.CELERY_BEAT_SCHEDULE["registry.requeue_stale_inference"]
    assert entry["task"] == tasks.requeue_stale_inference.name
    assert current_app.amqp.router.route({}, entry["task"])["queue"].name == "validation"
