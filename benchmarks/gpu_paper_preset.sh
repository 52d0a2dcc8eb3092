#!/usr/bin/env bash
# The `paper` preset (5000 steps per stage, SelfDeblur's 128-channel DIP on the whole image) of
# `deblurkit deblur` and `deblurkit deblur-nonuniform` on a synth-set folder, on one CUDA GPU.
#
# Usage: benchmarks/gpu_paper_preset.sh SET_DIR OUT_DIR [WORKERS] [DEADLINE_S] [EXTRA_ARGS...]
#   SET_DIR     a `deblurkit synth-set` folder (its blurry/*.png are the inputs, in name order)
#   OUT_DIR     gets uniform/ and nonuniform/ (the commands' usual outputs) and one log per worker
#   WORKERS     processes side by side on the GPU (default 8); worker w takes images w, w+W, ...,
#               each image first with `deblur`, then with `deblur-nonuniform`, so that finished
#               images have both results
#   DEADLINE_S  every worker is stopped after this many seconds (default 400); images not
#               finished by then have no output (the commands write atomically) and a re-run with
#               the same OUT_DIR skips the finished ones
#   EXTRA_ARGS  passed to both commands (e.g. `--steps 5 --device cpu` for a dry run)
# Score the outputs with benchmarks/nonuniform_report.py --set SET_DIR --uniform OUT_DIR/uniform
# --nonuniform OUT_DIR/nonuniform. Runs from the repository root without installing the package
# (python3 -m deblurkit), as on a bare GPU machine.
set -u
if (($# < 2)) || [[ ! -d $1/blurry ]]; then
    echo "usage: benchmarks/gpu_paper_preset.sh SET_DIR OUT_DIR [WORKERS] [DEADLINE_S] [EXTRA_ARGS...]" \
        "(SET_DIR/blurry must exist)" >&2
    exit 2
fi
set_dir=$1
out=$2
workers=${3:-8}
deadline=${4:-400}
shift $(($# < 4 ? $# : 4))
extra=("$@")
mkdir -p "$out"
mapfile -t files < <(ls "$set_dir"/blurry/*.png | sort)
per_worker_threads=$(( $(nproc) / workers > 0 ? $(nproc) / workers : 1 ))
for ((w = 0; w < workers; w++)); do
    mine=()
    for ((i = w; i < ${#files[@]}; i += workers)); do mine+=("${files[$i]}"); done
    ((${#mine[@]})) || continue
    OMP_NUM_THREADS=$per_worker_threads timeout "$deadline" bash -c '
        out=$1; shift; n=$1; shift; extra=("${@:1:$n}"); shift "$n"
        for f in "$@"; do
            python3 -m deblurkit deblur "$f" --preset paper -o "$out/uniform" -q "${extra[@]}"
            python3 -m deblurkit deblur-nonuniform "$f" --preset paper -o "$out/nonuniform" -q "${extra[@]}"
        done' _ "$out" "${#extra[@]}" "${extra[@]}" "${mine[@]}" >"$out/worker$w.log" 2>&1 &
done
wait
echo "finished: $(ls "$out"/uniform/*.json 2>/dev/null | wc -l) uniform, $(ls "$out"/nonuniform/*.json 2>/dev/null | wc -l) non-uniform"
