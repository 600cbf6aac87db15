#!/usr/bin/env bash
# Mutation testing of the core, the trainer's loss step and the scorers' metric code (docs/testing.md).
# Usage: bash tests/mutation/run_all.sh [NAME ...]   (no NAME: every target; results in $OUT, default
# /tmp/uedpo-mutation/NAME.json, then the per-module table). Run from the repository root; about an hour on
# two cores. Each target's tests are the few files that exercise it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/uedpo-mutation}
export NLTK_DATA=${NLTK_DATA:-$PWD/../shared/nltk_data} UEDPO_DATA_DIR=${UEDPO_DATA_DIR:-$PWD/../shared/benchdata}
mkdir -p "$OUT"

declare -A TARGET
TARGET[noise]="uedpo/noise.py tests/test_core_noise.py"
TARGET[signals]="uedpo/signals.py tests/test_core_signals.py"
TARGET[exploration]="uedpo/exploration.py tests/test_core_exploration.py tests/test_core_loss.py"
TARGET[loss]="uedpo/loss.py tests/test_core_loss.py"
TARGET[baselines]="uedpo/baselines.py tests/test_core_baselines.py"
TARGET[trainer_step]="uedpo/trainer.py --only UEDPOTrainer.compute_loss,UEDPOTrainer.preference_step,UEDPOTrainer.signals,UEDPOTrainer.reference_logps,UEDPOTrainer.sft_step tests/test_core_trainer_step.py"
TARGET[baseline_steps]="uedpo/train/baseline_steps.py tests/test_core_trainer_step.py"
TARGET[amber_generative]="evaluation/amber/generative.py tests/test_amber_generative.py"
TARGET[amber_discriminative]="evaluation/amber/discriminative.py tests/test_amber_discriminative.py"
TARGET[amber_score]="evaluation/amber/score.py tests/test_amber_discriminative.py tests/test_amber_generative.py"
TARGET[chair]="evaluation/chair/chair.py tests/test_chair_scoring_units.py tests/test_chair_edge_cases.py tests/test_chair_parity.py"
TARGET[objhal]="evaluation/chair/objhal.py tests/test_chair_scoring_units.py tests/test_objhal_scorer.py tests/test_chair_official_outputs.py"
TARGET[mmhal_score]="evaluation/mmhal/score.py tests/test_mmhal_score.py"
TARGET[mmhal_parse]="evaluation/mmhal/parse.py tests/test_mmhal_parse.py tests/test_mmhal_score.py"
TARGET[pope_parsers]="evaluation/pope/parsers.py tests/test_pope_parsers.py tests/test_pope_score_units.py"
TARGET[pope_metrics]="evaluation/pope/metrics.py tests/test_pope_metrics.py"
TARGET[pope_score]="evaluation/pope/score.py tests/test_pope_parsers.py tests/test_pope_metrics.py"
ORDER=(noise signals exploration loss baselines trainer_step baseline_steps amber_generative amber_discriminative
       amber_score chair objhal mmhal_score mmhal_parse pope_parsers pope_metrics pope_score)

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ORDER[@]}")
for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    set -- ${TARGET[$name]}
    module=$1; shift
    $PY tests/mutation/harness.py "$module" "$@" --json "$OUT/$name.json" | grep -E "^(SURVIVED|(uedpo|evaluation)/)" || true
done
$PY tests/mutation/harness.py --summary "$OUT"
