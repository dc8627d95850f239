"""Draft an analysis plan for a drafted dictionary: outcomes, waves, model, contexts, engagement.

Only sections the data can support are switched on; each guess says why (``# check``) and each
choice only the user can make is a question (the headline outcome, the end of support, the groups
to compare, how engagement is recorded).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .._draft import Draft
from .draft_dictionary import DraftedData

__all__ = ["draft_plan"]

_GROUP = re.compile(r"(mode|group|delivery|arm|type|programme|program|service|intervention)")
_ENGAGEMENT = {"started": re.compile(r"(^|_)start(ed)?($|_)|took_up|uptake"),
               "sessions": re.compile(r"sessions?_(attended|attend|count|n)$|^sessions?$|"
                                      r"^n_sessions"),
               "start": re.compile(r"first_session|start(ed)?_on|support_start"),
               "stop": re.compile(r"last_session|end(ed)?_on|support_end|stop(ped)?_on"),
               "reason": re.compile(r"exit|reason|outcome_of_support|discharge")}
_DISENGAGED = re.compile(r"diseng|stopp|drop|lost|no_show|did_not_attend")


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def draft_plan(d: DraftedData, *, dictionary: Path, out_dir: Path) -> Draft:
    """The plan draft for the data ``d`` describes; paths relative to ``out_dir``."""
    plan = Draft({"programme": "My programme"})
    plan.ask(("programme",), "what is the programme called? (the reports' title)")
    plan.data["data"] = {"dictionary": _rel(dictionary, out_dir),
                         "files": {ds: _rel(p, out_dir) for ds, p in d.files.items()},
                         "on_problems": "stop"}
    outcomes = [{"instrument": i} for i in dict.fromkeys(d.instruments)]
    if outcomes:
        outcomes[0]["primary"] = True
        plan.data["outcomes"] = outcomes
        plan.ask(("outcomes", 0, "primary"), f"{outcomes[0]['instrument']} is the headline "
                 "(primary) outcome because it was found first: is that right?")
    else:
        plan.data["outcomes"] = []
        plan.ask(("outcomes",), "no questionnaire was recognised: list the instruments to score "
                 "(declare their items in the dictionary first)")
    waves = d.waves
    if len(waves) >= 2:
        end = waves[-2] if len(waves) > 2 and re.search(r"follow|fu\b", waves[-1].lower()) \
            else waves[-1]
        weeks = d.draft.data["waves"]
        plan.data["time"] = {"baseline_wave": waves[0], "end_wave": end,
                             "change": [weeks[waves[0]]["week"], weeks[end]["week"]]}
        plan.ask(("time", "end_wave"), f"which wave is the end of support? {end!r} is a guess "
                 f"(waves in order: {', '.join(waves)}); later waves are described, not modelled")
    group = next((c for c in d.contexts if _GROUP.search(c) and d.columns[c].type == "category"
                  and 2 <= len(d.columns[c].levels) <= 5), None)
    started = next((c for c in d.columns if _ENGAGEMENT["started"].search(c)
                    and d.columns[c].type == "boolean"), None)
    plan.data["model"] = {"fixed": f"weeks * {group}" if group else "weeks", "random": "weeks",
                          "group": group, "population": "started" if started else "all"}
    if group:
        plan.check(("model", "group"), f"{group!r}: {d.columns[group].evidence}; change is "
                   "compared between its levels")
    else:
        plan.ask(("model", "group"), "no column looks like the groups to compare (e.g. the mode "
                 "of support): name one (and write fixed: weeks * <it>), or leave null")
    plan.data["mechanisms"] = None
    if d.unanswered_items:
        plan.ask(("mechanisms",), f"if {', '.join(d.unanswered_items)} are mechanism ratings, "
                 "give them role: mechanism in the dictionary and write mechanisms: {items: all, "
                 "wave: <the wave they are asked at>}")
    kinds = {"started": ("boolean",), "sessions": ("integer", "number"), "start": ("date",),
             "stop": ("date",), "reason": ("category",)}
    found = {role: next((c for c in d.columns if rx.search(c) and d.columns[c].type in kinds[role]),
                        None) for role, rx in _ENGAGEMENT.items()}
    if all(found.values()) and d.columns[found["reason"]].type == "category":
        reason = d.columns[found["reason"]]
        reasons = [str(v) for v in reason.levels]
        # REDCap codes its choices (4 = "Disengaged"): the label says what a code means
        gone = [r for r in reasons if _DISENGAGED.search(f"{r} {reason.labels.get(r, '')}".lower())]
        plan.data["engagement"] = {**found, "disengaged": gone or reasons[:1],
                                   "by": group or found["started"]}
        plan.check(("engagement",), "columns named like uptake, sessions, first and last "
                   "session and the reason support ended")
        if not gone:
            plan.ask(("engagement", "disengaged"), f"which reasons in {found['reason']!r} "
                     f"({', '.join(reasons)}) mean the mother disengaged?")
    else:
        plan.data["engagement"] = None
        missing = [r for r, c in found.items() if c is None]
        plan.ask(("engagement",), "engagement analyses need uptake, sessions, first and last "
                 f"session dates and the reason support ended; not found: {', '.join(missing)}. "
                 "Name them here, or leave engagement: null")
    engagement = {v for v in (plan.data["engagement"] or {}).values() if isinstance(v, str)} - {group}
    contexts = [c for c in d.contexts if c not in engagement]
    if contexts:
        plan.data["contexts"] = {"variables": contexts}
        plan.check(("contexts", "variables"), "the participants' categories, yes/no answers and "
                   "numbers, less the engagement columns: remove any that are not contexts of "
                   "the support")
    plan.data["attrition"] = {"compare": "all"}
    plan.data["sensitivity"] = {"multiple_imputation": {"m": 20}, "tipping_point": {}}
    plan.data["report"] = {"audience": ["impact", "technical"], "suppression_threshold": 5}
    return plan
