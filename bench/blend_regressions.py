"""Fresh against blend on every suite case, one repeat: attributable regressions only.

A quicker check than `redraft bench` (two arms, no timing tables). Run it under a second
llama.cpp build to see another CPU's numerics on this one (bench/README.md, section 8):
python bench/blend_regressions.py - OUT.json [fresh,blend[,tolerant]] [FILTER ...]
The first argument is a model path, or - for the default model.
"""
import json
import sys
import time
from pathlib import Path

from redraft_cli.bench.arms import _call
from redraft_cli.bench.cases import load_suite
from redraft_cli.bench.checks import attributable_checks, case_checks, regressions
from redraft_cli.bench.departure import departure
from redraft_cli.config import FINAL_PROMPT_REUSE, load_config
from redraft_cli.engine_access import Models, load_engine

model = sys.argv[1] if sys.argv[1] != "-" else None
out = sys.argv[2]
arms = sys.argv[3].split(",") if len(sys.argv) > 3 else ["fresh", "blend"]
flags = dict(model=model, max_tokens=None, threads=None)
settings = load_config(flags=flags).settings.with_prompt_reuse(FINAL_PROMPT_REUSE)
engine = load_engine(settings, Models().identify(settings))
rows = []
t0 = time.time()
for i, case in enumerate(load_suite(Path("cases"), tuple(sys.argv[4:]))):
    before, after = case.prompt(case.before), case.prompt(case.after)
    engine.reset()
    old = engine.generate(before)
    state = engine.export_state()
    res = {}
    order = arms if i % 2 == 0 else arms[::-1]
    for arm in order:
        assert engine.import_state(*state)
        res[arm] = _call(engine, arm, after, old)
    checks = case_checks(case.expect, case.forbid)
    att = attributable_checks(checks, case.before, old.text)
    row = {"id": case.id, "old": old.text, "noise": engine.noise}
    for arm in arms:
        if arm == "fresh":
            continue
        f, a = res["fresh"], res[arm]
        row[arm] = {
            "regressed": [str(c) for c in regressions(att, [f.text], [a.text])],
            "improved": [str(c) for c in regressions(att, [a.text], [f.text])],
            "departure": None if (d := departure(f.tokens, f.margins, a.tokens, a.margins))
            is None else d.to_json(),
            "wall": a.stats.wall_s, "fresh_wall": f.stats.wall_s, "text": a.text,
        }
    row["fresh_text"] = res["fresh"].text
    rows.append(row)
    found = {a: (row[a]["regressed"], row[a]["improved"]) for a in arms if a != "fresh"}
    print(case.id, found, f"{time.time() - t0:.0f}s", flush=True)
    json.dump(rows, open(out, "w"), indent=0)
