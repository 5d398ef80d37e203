#!/usr/bin/env sh
# Regenerates the built-in test source: a 10 s VP8 test pattern in an IVF file.
# The clip is committed so that a fresh machine needs no media tools; run this
# (with ffmpeg installed) only to change it.
#  -g 30 / keyint_min 30: a keyframe every second, so a looped clip restarts cleanly
#  -auto-alt-ref 0 / lag-in-frames 0: no hidden alt-ref frames, one RTP frame per video frame
#  -error-resilient 1: lets decoders recover from a lost packet without waiting a GOP
set -eu
out="${1:-$(dirname "$0")/../assets/test-pattern.ivf}"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=30,drawtext=text='webrtc-oneway':x=20:y=20:fontsize=28:fontcolor=white:box=1:boxcolor=black@0.5" \
  -t 10 -c:v libvpx -b:v 600k -minrate 600k -maxrate 600k -g 30 -keyint_min 30 \
  -deadline realtime -cpu-used 8 -auto-alt-ref 0 -lag-in-frames 0 -error-resilient 1 \
  -f ivf "$out"
