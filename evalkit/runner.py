"""Where ``run_plan`` used to live; it is now :func:`evalkit.pipeline.run_plan`.

Kept so ``from evalkit.runner import run_plan`` in existing scripts keeps working.
"""

from .pipeline.run import AuditFailed, RunResult, run_plan

__all__ = ["run_plan", "RunResult", "AuditFailed"]
