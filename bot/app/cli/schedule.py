"""`bot schedule`: the operator jobs of `[schedule]` on their cron times, in a process of their
own (never inside a trading node). `--once` runs the declared jobs once each, in order, and
stops at the first failure, since each step hands its result to the next."""

from datetime import UTC, datetime
from typing import Annotated

import typer

from bot.app.jobs import JobContext, run_job
from bot.core.alerts import notifier
from bot.core.errors import ConfigError, OperationalError
from bot.engine.journal import Journal, RunRecord
from bot.engine.registry import Registry


def schedule(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Run each job once, in order, then exit.")] = False,
    job: Annotated[
        list[str] | None, typer.Option(help="Only these jobs (by name; repeatable).")
    ] = None,
) -> None:
    """Run the configured schedule jobs (retrain, evaluate, promote, reports, data refresh) on their
    cron times (UTC) until SIGINT. Job runs are journalled; a failed job alerts and changes
    nothing."""
    run = ctx.find_root().obj
    loaded = run.settings()
    settings = loaded.settings
    jobs = _selected(settings.schedule.jobs, job)
    bot_args = (("--config", str(run.config_file)) if run.config_file else ()) + tuple(
        arg for assignment in run.assignments for arg in ("--set", assignment)
    )
    with Journal(settings.journal.path) as journal:
        record = RunRecord(run.run_id, "schedule", "", "", settings.router.policy)
        journal.start_run(record)
        context = JobContext(
            settings, journal, run.run_id, Registry(settings.registry.path),
            notifier(loaded.secrets), bot_args,
        )  # fmt: skip
        if once:
            _run_once(jobs, context)
        else:
            _run_forever(jobs, context)


def _selected(jobs, names: list[str] | None):
    if not names:
        return jobs
    known = {j.name: j for j in jobs}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"no job named {unknown}; [schedule] declares {sorted(known)}.")
    return tuple(j for j in jobs if j.name in names)


def _run_once(jobs, context: JobContext) -> None:
    for job in jobs:
        typer.echo(f"Running {job.name} ({job.kind}) ...")
        if not run_job(job, context):
            raise OperationalError(
                f"job {job.name} failed (journalled and alerted; nothing was changed). Later "
                "jobs were not run. See the log line above, fix the cause and run it again."
            )
        typer.echo(f"{job.name} done.")


def _run_forever(jobs, context: JobContext) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    scheduler = BlockingScheduler(timezone=UTC)
    now = datetime.now(UTC)
    for job in jobs:
        trigger = CronTrigger.from_crontab(job.cron, timezone=UTC)
        # One run at a time per job; a run missed while busy or down runs once, not many times.
        scheduler.add_job(
            run_job, trigger, args=(job, context), id=job.name, max_instances=1, coalesce=True
        )
        typer.echo(
            f"{job.name}: next run {trigger.get_next_fire_time(None, now):%Y-%m-%d %H:%M %Z}"
        )
    typer.echo("Scheduler running; SIGINT (Ctrl-C) stops it.")
    scheduler.start()  # blocks; SIGINT ends it through the CLI boundary
