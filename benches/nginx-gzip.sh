#!/usr/bin/env bash
# nginx with `gzip on` serving one file, with and without a zlib preloaded:
# time to first byte, total time, the worker's peak RSS and the alert lines
# in error.log, one line per request (medians are the caller's to take).
#   benches/nginx-gzip.sh LIB|none FILE [RUNS] [LEVEL]
# nginx binds 127.0.0.1 only, runs under `timeout` and is stopped here; its
# prefix, config and logs go to a fresh temporary directory.
set -euo pipefail
lib=$1; file=$(readlink -f "$2"); runs=${3:-7}; level=${4:-1}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
port=$((20000 + RANDOM % 20000))
cp "$file" "$d/body.txt"
cat > "$d/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $d/nginx.pid; error_log $d/error.log;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path $d; proxy_temp_path $d;
  fastcgi_temp_path $d; uwsgi_temp_path $d; scgi_temp_path $d;
  types { text/plain txt; } gzip on; gzip_types text/plain; gzip_comp_level $level;
  server { listen 127.0.0.1:$port; root $d; }
}
CONF
if [ "$lib" = none ]; then
    timeout 300 nginx -p "$d" -c "$d/nginx.conf" & n=$!
else
    LD_PRELOAD=$(readlink -f "$lib") timeout 300 nginx -p "$d" -c "$d/nginx.conf" & n=$!
fi
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break || sleep 0.1; done
worker=$(pgrep -P "$(cat "$d/nginx.pid")" | head -1)
echo "ttfb_ms total_ms worker_peak_rss_kib alerts_so_far bytes"
for _ in $(seq "$runs"); do
    read -r first total size < <(curl -s -H 'Accept-Encoding: gzip' -o "$d/out.gz" \
        -w '%{time_starttransfer} %{time_total} %{size_download}\n' "http://127.0.0.1:$port/body.txt")
    hwm=$(awk '/VmHWM/{print $2}' "/proc/$worker/status")
    alerts=$(grep -c alert "$d/error.log" || true)
    awk -v a="$first" -v b="$total" -v h="$hwm" -v al="$alerts" -v s="$size" \
        'BEGIN { printf "%.1f %.1f %d %d %d\n", a * 1000, b * 1000, h, al, s }'
done
gzip -dc "$d/out.gz" | cmp - "$d/body.txt"
kill "$n"; wait "$n" 2>/dev/null || true
