#!/usr/bin/env bash
# AVIF settings by measurement: one m-size variant (short edge 640) of a real
# photograph, encoded as WebP (the variant setting, Q80) and as AVIF over
# effort x quality x chroma; for each: bytes, SSIM on luma against the
# lossless reference (ssim.py) and CPU ms per megapixel of output (user+sys
# of `vips heifsave`, decode of the PNG reference included, as small as it
# is). Usage: ops/bench.d/avif.sh [SOURCE.jpg] > table.md
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${1:-/usr/share/wallpapers/Volna/contents/images/5120x2880.jpg}"
work="$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-avif.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export VIPS_CONCURRENCY=1
vipsthumbnail "$src" --size 100000x640 -o "$work/ref.png"
w=$(vipsheader -f width "$work/ref.png"); h=$(vipsheader -f height "$work/ref.png")
mp=$(python3 -c "print($w*$h/1e6)")
vips colourspace "$work/ref.png" "$work/ref.pgm" b-w
measure() {  # measure LABEL OUT.ext[opts] SAVER...: one table row
  local label="$1" out="$2" file="${2%%[*}"; shift 2
  /usr/bin/time -f "%U %S" -o "$work/t" "$@" >/dev/null 2>&1
  read -r u s <"$work/t"
  vips colourspace "$file" "$work/x.pgm" b-w
  local bytes ssim ms
  bytes=$(stat -c %s "$file"); ssim=$(python3 "$here/ssim.py" "$work/ref.pgm" "$work/x.pgm")
  ms=$(python3 -c "print(f'{($u+$s)*1000/$mp:.0f}')")
  echo "| $label | $bytes | $ssim | $ms |"
}
echo "Reference: $(basename "$src") → ${w}x$h (${mp} MP), $(nproc) cores, libvips $(vips --version | cut -d- -f2)"
echo ""
echo "| encoding | bytes | SSIM (luma, 8x8) | CPU ms per MP |"
echo "| --- | --- | --- | --- |"
for q in 70 80 90; do measure "WebP Q$q" "$work/w.webp" vips webpsave "$work/ref.png" "$work/w.webp" --Q $q; done
for e in 0 2 4 6; do
  for q in 40 50 60; do
    for sub in on off; do
      measure "AVIF effort $e Q$q chroma $([[ $sub == on ]] && echo 4:2:0 || echo 4:4:4)" "$work/a.avif" \
        vips heifsave "$work/ref.png" "$work/a.avif" --compression av1 --Q $q --effort $e --subsample-mode $sub --strip
    done
  done
done
