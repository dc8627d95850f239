"""Running an analysis plan: the run context, one module per step, and safe writing of the report.

Steps, in order: :mod:`.data` (validate, score, cohort), :mod:`.flow`, :mod:`.reach`,
:mod:`.engagement`, :mod:`.outcome` (with :mod:`.outcome_change` and :mod:`.outcome_context`),
:mod:`.mechanisms`, :mod:`.attrition`, :mod:`.sensitivity`. Each computes tidy results through
library functions and registers the tables it publishes with the run's publication layer;
:mod:`.run` protects them together, draws figures and writes sentences from the protected tables,
audits the result and writes it atomically (:mod:`.write`).
"""

from .run import STEPS, AuditFailed, RunResult, run_plan

__all__ = ["run_plan", "RunResult", "AuditFailed", "STEPS"]
