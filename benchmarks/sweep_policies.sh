#!/usr/bin/env bash
# Every registered policy (horizon-planner included) over 20 seeds of the packaged scenarios
# default, scarce-llm and caiso-curtailment, with `greenhop sweep`: one cell per seed and
# policy, each scenario's bounds solved per seed, statistics with 95% intervals in OUT/SCENARIO/.
#
#   benchmarks/sweep_policies.sh                 # all of it (see the time it takes below)
#   DRY_RUN=1 benchmarks/sweep_policies.sh       # print the commands only
#   SEEDS=1-5 SCENARIOS=scarce-llm SERIAL=1 benchmarks/sweep_policies.sh
#
# Settings (environment): SEEDS (1-20), SCENARIOS ("default scarce-llm caiso-curtailment"),
# POLICIES (default: every registered policy), OUT (sweeps), WORKERS (Ray tasks at once;
# default: one per core), SERIAL=1 (no Ray: one cell after another), GREENHOP (the CLI,
# default .venv/bin/greenhop). A sweep re-run with the same command resumes: only the
# missing cells run, so it can be stopped and started again.
#
# Time: docs/planner.md ("Sweeps") gives the measured time of one seed of each scenario
# under every policy; 20 seeds take about 20 x that on one core.
set -euo pipefail
cd "$(dirname "$0")/.."

GREENHOP=${GREENHOP:-.venv/bin/greenhop}
PYTHON=${PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-1-20}
SCENARIOS=${SCENARIOS:-"default scarce-llm caiso-curtailment"}
OUT=${OUT:-sweeps}
if [[ -z "${POLICIES:-}" ]]; then
    POLICIES=$("$PYTHON" -c \
        "from greenhop.policies import POLICIES; print(','.join(sorted(POLICIES)))")
fi

export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0
extra=()
if [[ "${SERIAL:-0}" == 1 ]]; then
    extra+=(--serial)
elif [[ -n "${WORKERS:-}" ]]; then
    extra+=(--workers "$WORKERS")
fi

for scenario in $SCENARIOS; do
    cmd=("$GREENHOP" sweep "$scenario" --seeds "$SEEDS" --policies "$POLICIES"
         --out "$OUT/$scenario" "${extra[@]}")
    echo "+ ${cmd[*]}"
    if [[ "${DRY_RUN:-0}" != 1 ]]; then
        start=$(date +%s)
        "${cmd[@]}"
        echo "$scenario: $(( $(date +%s) - start )) s"
    fi
done
