#!/usr/bin/env bash
# Screenshots of the real window for docs/APP.md: the setup screen, a busy queue, the resume
# banner, the folder browser and the Share dialog, in English and Chinese, under Xvfb with Mesa's software GL.
# Needs: xvfb xdotool python3-pil (Debian's python3); run from the repository root after
# `cargo build`. Writes assets/screenshots/*.png.
set -euo pipefail

BIN=${BIN:-target/debug/oss-uploader}
OUT=assets/screenshots
DISPLAY_NUM=${DISPLAY_NUM:-:93}
mkdir -p "$OUT"
WORK=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

Xvfb "$DISPLAY_NUM" -screen 0 1280x760x24 >/dev/null 2>&1 &
pids+=($!)
export DISPLAY=$DISPLAY_NUM LIBGL_ALWAYS_SOFTWARE=1
sleep 1

# Debian's python3 with python3-pil grabs the X screen (the window sits at the top left).
shot() {
    /usr/bin/python3 -c 'import sys; from PIL import ImageGrab
ImageGrab.grab(xdisplay=sys.argv[1]).crop((0, 0, 1180, 720)).save(sys.argv[2])' \
        "$DISPLAY_NUM" "$OUT/$1.png"
}

# Files worth watching: big enough to stay busy under a speed limit.
mkdir -p "$WORK/files/Holiday 2024"
for f in "Holiday 2024/beach.mov:48" "Holiday 2024/dinner.jpg:6" "Holiday 2024/sunset.jpg:5" \
         "report-final.pdf:3" "family-album.zip:64" "budget.xlsx:1"; do
    name=${f%%:*}; mib=${f##*:}
    head -c $((mib * 1024 * 1024)) /dev/urandom > "$WORK/files/$name"
done

# The same names, small, for the folder browser: uploaded in a moment without a speed limit.
mkdir -p "$WORK/small/Holiday 2024"
for f in "Holiday 2024/beach.mov:3" "Holiday 2024/dinner.jpg:2" "Holiday 2024/sunset.jpg:1" \
         "report-final.pdf:1" "budget.xlsx:1"; do
    name=${f%%:*}; mib=${f##*:}
    head -c $((mib * 1024 * 1024)) /dev/urandom > "$WORK/small/$name"
done

for lang in en zh; do
    case $lang in en) LOCALE=en_US.UTF-8 ;; zh) LOCALE=zh_CN.UTF-8 ;; esac

    # First run without an account: the setup screen.
    env -u OSS_ACCESS_KEY_ID -u OSS_ACCESS_KEY_SECRET LANG=$LOCALE LC_ALL=$LOCALE \
        OSS_UPLOADER_DATA_DIR="$WORK/setup-$lang" "$BIN" &
    pid=$!; pids+=($pid)
    sleep 4; shot "setup_$lang"; kill "$pid"; wait "$pid" 2>/dev/null || true

    # The demo with a speed limit, so the queue stays busy long enough to look at.
    data="$WORK/demo-$lang"
    mkdir -p "$data"
    echo '{"bandwidth_limit": 6291456, "prefix": "from-laptop", "part_size": 1048576, "parts_at_once": 2}' > "$data/settings.json"
    LANG=$LOCALE LC_ALL=$LOCALE OSS_UPLOADER_DATA_DIR="$data" "$BIN" --demo \
        "$WORK/files/Holiday 2024" "$WORK/files/report-final.pdf" \
        "$WORK/files/family-album.zip" "$WORK/files/budget.xlsx" &
    pid=$!; pids+=($pid)
    sleep 9; shot "queue_$lang"
    # A crash mid-upload: nothing is lost, the next start offers to resume.
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    LANG=$LOCALE LC_ALL=$LOCALE OSS_UPLOADER_DATA_DIR="$data" "$BIN" --demo &
    pid=$!; pids+=($pid)
    sleep 4; shot "resume_$lang"; kill "$pid"; wait "$pid" 2>/dev/null || true

    # The folder browser over the demo bucket once a few files are in: Browse… beside the
    # destination, at the right end of the toolbar (egui draws its own widgets, so xdotool
    # clicks where the button is).
    data="$WORK/browse-$lang"
    mkdir -p "$data"
    echo '{"prefix": "from-laptop"}' > "$data/settings.json"
    LANG=$LOCALE LC_ALL=$LOCALE OSS_UPLOADER_DATA_DIR="$data" "$BIN" --demo \
        "$WORK/small/Holiday 2024" "$WORK/small/report-final.pdf" "$WORK/small/budget.xlsx" &
    pid=$!; pids+=($pid)
    sleep 8; xdotool mousemove 1150 43 click 1
    sleep 3; shot "browser_$lang"
    # The browser's Close, then Share… on the first row (the pointer then moves off it).
    xdotool mousemove 948 641; sleep 1; xdotool click 1; sleep 1
    xdotool mousemove 978 126; sleep 1; xdotool click 1; sleep 1; xdotool mousemove 600 650
    sleep 2; shot "share_$lang"; kill "$pid"; wait "$pid" 2>/dev/null || true
done
ls -l "$OUT"
