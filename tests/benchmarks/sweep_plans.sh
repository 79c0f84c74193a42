#!/usr/bin/env bash
# Robustness sweep (run by hand): generated clusters of several shapes x levels x options;
# every plan written must pass `hvplan verify`, every refusal must exit 1, nothing may crash.
# Usage: bash tests/benchmarks/sweep_plans.sh [WORKDIR]
set -u
work="${1:-$(mktemp -d)}"
mkdir -p "$work" && cd "$work" || exit 2
plans=0; refused=0; bad=0; i=0
for seed in 1 2 3 4 5 6; do
  for vendors in intel mixed amd; do
    i=$((i + 1)); d="s$i"
    hvplan generate --hosts $((4 + seed * 3)) --vms $((40 + seed * 60)) --seed "$seed" \
      --vendors "$vendors" --rule-density 0.3 --fault-domains 3 --hot-fraction 0.3 \
      --out "$d" --force > /dev/null 2> gen.err || { echo "generate failed: $d"; bad=$((bad + 1)); continue; }
    for level in low medium high; do
      for extra in "" "--drain HV01" "--max-moves 3" "--high-mode absolute"; do
        out="p-$d-$level-$(echo "$extra" | tr -d ' -')"
        # shellcheck disable=SC2086
        hvplan plan "$d" --out "$out" --level "$level" $extra --time-limit 20 > /dev/null 2> err.txt
        rc=$?
        if grep -q "Traceback\|internal error" err.txt; then
          echo "CRASH $out"; bad=$((bad + 1))
        elif [ $rc -eq 0 ]; then
          plans=$((plans + 1))
          hvplan verify "$d" "$out" > /dev/null 2>&1 || { echo "VERIFY FAILED $out"; bad=$((bad + 1)); }
        elif [ $rc -eq 1 ]; then
          refused=$((refused + 1))
        else
          echo "exit $rc: $out"; bad=$((bad + 1))
        fi
      done
    done
  done
done
echo "plans written and verified: $plans; refused (exit 1): $refused; problems: $bad; in $work"
