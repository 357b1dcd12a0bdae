#!/usr/bin/env bash
# Rebuilds NotoSansCJKsc-Subset.otf: Noto Sans CJK SC (face 2 of Debian's fonts-noto-cjk
# collection) cut to the characters a Chinese and English file uploader shows.
#   apt-get install -y fonts-noto-cjk python3-fonttools    (or: pip install fonttools)
#   bash assets/fonts/make_subset.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${NOTO_CJK_TTC:-/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc}"
out="$here/NotoSansCJKsc-Subset.otf"

# Debian's fontTools lives in the system Python; a pip install may live in another one.
py=""
for candidate in "${PYTHON:-}" /usr/bin/python3 python3; do
  if [[ -n "$candidate" ]] && "$candidate" -c 'import fontTools' 2>/dev/null; then
    py="$candidate"
    break
  fi
done
[[ -n "$py" ]] || { echo "fontTools not found: apt-get install python3-fonttools (or pip install fonttools)" >&2; exit 1; }
[[ -f "$src" ]] || { echo "$src not found: apt-get install fonts-noto-cjk" >&2; exit 1; }

# The face index is checked by name: the collection's order is not a promise.
face=$("$py" - "$src" <<'PY'
import sys
from fontTools.ttLib import TTCollection
for i, f in enumerate(TTCollection(sys.argv[1]).fonts):
    if f["name"].getDebugName(4) == "Noto Sans CJK SC":
        print(i)
        break
else:
    sys.exit("no 'Noto Sans CJK SC' face in " + sys.argv[1])
PY
)

unicodes="$(mktemp)"
trap 'rm -f "$unicodes"' EXIT
"$py" - >"$unicodes" <<'PY'
# Every character of GB2312 (6763 hanzi and 682 symbols), decoded from its byte grid.
cps = set()
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            cps.add(ord(bytes([hi, lo]).decode("gb2312")))
        except UnicodeDecodeError:
            pass
ranges = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1: accented letters in file names
    (0x2000, 0x206F),  # general punctuation: dashes, quotes, ellipsis
    (0x2190, 0x21FF),  # arrows
    (0x2460, 0x24FF),  # circled numbers
    (0x2500, 0x25FF),  # box drawing, blocks, geometric shapes
    (0x2700, 0x27BF),  # dingbats (check mark)
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0xFF00, 0xFFEF),  # full-width forms
]
for a, b in ranges:
    cps.update(range(a, b + 1))
cps.add(0x20AC)  # euro sign
for cp in sorted(cps):
    print(f"U+{cp:04X}")
PY

"$py" -m fontTools.subset "$src" \
  --font-number="$face" \
  --unicodes-file="$unicodes" \
  --layout-features='*' \
  --name-IDs='*' --name-languages='*' \
  --no-hinting \
  --output-file="$out"
ls -l "$out"
