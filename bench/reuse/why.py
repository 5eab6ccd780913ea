"""Why label stealing is hard to see on this benchmark: how often the teacher's labels are the
truth on the thief's queries, and how often stolen and independent models agree with the teacher.

    nice .venv/bin/python bench/reuse/why.py      (from the repository root; needs the built zoo)
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
import zoo
from data import load_task
from modelhound.converters.runtimes import LiteRTRunnable
from modelhound.fingerprint.inputs import InputAdapter
C = HERE / '.cache' / 'models'
built=zoo.build_zoo(zoo.zoo_specs(), C, log=lambda s:None)
def pred(n,x):
    r=LiteRTRunnable(built[n].tflite.read_bytes()); a=InputAdapter(r.inputs[0])
    return np.concatenate([r.run([a.to_model(x[i:i+1000])])[0] for i in range(0,len(x),1000)]).argmax(1)
for arch in ('cnn','dwnet'):
  for task in ('digits','parity'):
    t=f"pretrain({arch},mnist)-transfer({task},0.5)"; T=load_task(task)
    pt=pred(t,T.x_train); ptest=pred(t,T.x_test)
    line=f"{t}: teacher labels = truth on {100*(pt==T.y_train).mean():.1f}% of its training inputs;"
    indep=[n for n in built if n.startswith(f"train(") and f",{task}," in n and built[n].spec.method=='train']
    for n in indep: line+=f" agree(test) with {n} {100*(pred(n,T.x_test)==ptest).mean():.1f}%;"
    for c in [n for n in built if n.startswith(t+'-steal')]:
        line+=f"\n   {c.split('-')[-1]}: agree(test) {100*(pred(c,T.x_test)==ptest).mean():.1f}%, acc {built[c].accuracy:.3f}"
    print(line, flush=True)
