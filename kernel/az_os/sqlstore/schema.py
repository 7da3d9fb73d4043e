"""peewee models for the tables that :mod:`az_os.sqlstore.migrations` creates.

The models are built per database by :func:`bind_models`, so several
databases (one per az home, or one SQLite file and one PostgreSQL server
during ``az db copy``) can be open in one process without sharing global
model state. The DDL lives in the migrations; these classes only describe
columns for queries (``create_table`` is never called). The same models
serve every dialect peewee speaks (SQLite, PostgreSQL).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from az_os.sqlstore.driverless import peewee as pw


def bind_models(db: Any) -> Any:
    """A namespace of model classes (``Task``, ``Turn``, ``TaskLog``,
    ``CostRecord``, ``TaskState``, ``ToolUsage``, ``Checkpoint``, ``TaskClaim``,
    ``BudgetReservation``) bound to ``db``."""

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Task(Base):
        id = pw.TextField(primary_key=True)
        description = pw.TextField()
        model = pw.TextField(null=True)
        status = pw.TextField()
        priority = pw.TextField()
        parent_task_id = pw.TextField(null=True)
        created_at = pw.FloatField()
        started_at = pw.FloatField(null=True)
        completed_at = pw.FloatField(null=True)
        updated_at = pw.FloatField()
        result = pw.TextField(null=True)
        error = pw.TextField(null=True)
        cost_usd = pw.FloatField(default=0.0)
        prompt_tokens = pw.IntegerField(default=0)
        completion_tokens = pw.IntegerField(default=0)
        workspace = pw.TextField(null=True)
        max_turns = pw.IntegerField(default=5)
        max_cost_usd = pw.FloatField(null=True)
        approval = pw.TextField(default="ask")
        pid = pw.IntegerField(null=True)
        host = pw.TextField(null=True)

        class Meta:
            table_name = "tasks"

    class Turn(Base):
        id = pw.AutoField()
        task_id = pw.TextField()
        turn_index = pw.IntegerField()
        model = pw.TextField(null=True)
        messages_json = pw.TextField(default="[]")
        tool_calls_json = pw.TextField(default="[]")
        tool_results_json = pw.TextField(default="[]")
        prompt_tokens = pw.IntegerField(default=0)
        completion_tokens = pw.IntegerField(default=0)
        cached_tokens = pw.IntegerField(default=0)
        cost_usd = pw.FloatField(default=0.0)
        model_duration_ms = pw.FloatField(default=0.0)
        tools_duration_ms = pw.FloatField(default=0.0)
        created_at = pw.FloatField()

        class Meta:
            table_name = "turns"

    class TaskLog(Base):
        id = pw.AutoField()
        task_id = pw.TextField(null=True)
        timestamp = pw.FloatField()
        level = pw.TextField()
        message = pw.TextField()

        class Meta:
            table_name = "task_logs"

    class CostRecord(Base):
        id = pw.AutoField()
        task_id = pw.TextField(null=True)
        model = pw.TextField()
        input_tokens = pw.IntegerField(default=0)
        output_tokens = pw.IntegerField(default=0)
        cached_tokens = pw.IntegerField(default=0)
        cost_usd = pw.FloatField(default=0.0)
        timestamp = pw.FloatField()

        class Meta:
            table_name = "cost_tracking"

    class TaskState(Base):
        id = pw.AutoField()
        task_id = pw.TextField(unique=True)
        state_json = pw.TextField()
        checkpoint_id = pw.TextField(null=True)
        updated_at = pw.FloatField()

        class Meta:
            table_name = "task_state"

    class ToolUsage(Base):
        id = pw.AutoField()
        task_id = pw.TextField(null=True)
        tool_name = pw.TextField()
        invocation_count = pw.IntegerField(default=0)
        total_duration_ms = pw.FloatField(default=0.0)

        class Meta:
            table_name = "tool_usage"

    class Checkpoint(Base):
        id = pw.TextField(primary_key=True)
        task_id = pw.TextField(null=True)
        turn = pw.IntegerField(default=0)
        name = pw.TextField()
        commit_id = pw.TextField()
        workspace = pw.TextField()
        created_at = pw.FloatField()

        class Meta:
            table_name = "checkpoints"

    class TaskClaim(Base):
        task_id = pw.TextField(primary_key=True)
        owner = pw.TextField()
        claimed_at = pw.FloatField()
        heartbeat_at = pw.FloatField()
        attempts = pw.IntegerField(default=1)

        class Meta:
            table_name = "task_claims"

    class BudgetReservation(Base):
        task_id = pw.TextField(primary_key=True)
        pid = pw.IntegerField(null=True)
        host = pw.TextField(null=True)
        model = pw.TextField(null=True)
        worst_usd = pw.FloatField()
        created_at = pw.FloatField()

        class Meta:
            table_name = "budget_reservations"

    return SimpleNamespace(
        Task=Task,
        Turn=Turn,
        TaskLog=TaskLog,
        CostRecord=CostRecord,
        TaskState=TaskState,
        ToolUsage=ToolUsage,
        Checkpoint=Checkpoint,
        TaskClaim=TaskClaim,
        BudgetReservation=BudgetReservation,
    )


#: Tables ``az db status`` counts, in display order (parents before
#: children, so copying them in this order satisfies the foreign keys).
TABLES = (
    "tasks",
    "turns",
    "task_logs",
    "cost_tracking",
    "task_state",
    "tool_usage",
    "checkpoints",
)
