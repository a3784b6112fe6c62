#!/usr/bin/env bash
# promtool-check.sh: checks an Envoy /stats/prometheus exposition (on standard input) with
# `promtool check metrics` (Debian's `prometheus` package; `make promtool` installs it).
#
#   curl -s http://127.0.0.1:9901/stats/prometheus | filters/service-metrics/promtool-check.sh
#
# Fails when promtool cannot parse the exposition, or reports any problem with this
# filter's metrics (istio_*, wasmesh_service_*) other than the two every Envoy exposition
# of them carries:
#   - "no help text": Envoy writes `# TYPE` lines but never `# HELP`;
#   - "use base unit "seconds" instead of "milliseconds"" for the duration histograms:
#     Istio's name is istio_request_duration_milliseconds, and Envoy histograms take whole
#     numbers, so durations are recorded in milliseconds in both naming modes.
# Problems promtool finds with Envoy's own metrics (envoy_*) are not this filter's.
set -euo pipefail

if ! command -v promtool >/dev/null; then
  echo "promtool not found: install Debian's prometheus package (make promtool)" >&2
  exit 2
fi

input=$(mktemp)
trap 'rm -f "$input"' EXIT
cat >"$input"

status=0
problems=$(promtool check metrics <"$input" 2>&1) || status=$?
if ((status != 0 && status != 3)); then
  echo "promtool could not parse the exposition (exit $status):" >&2
  echo "$problems" >&2
  exit 1
fi

ours=$(grep -E '^(istio_|wasmesh_service_)' <<<"$problems" || true)
unexpected=$(grep -vE ' no help text$' <<<"$ours" |
  grep -vE '^(istio|wasmesh_service)_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"$' ||
  true)
if [[ -n "$unexpected" ]]; then
  echo "promtool found problems with service-metrics metrics:" >&2
  echo "$unexpected" >&2
  exit 1
fi

families=$(grep -cE '^# TYPE (istio_|wasmesh_service_)' "$input" || true)
if ((families == 0)); then
  echo "no service-metrics metric families in the exposition" >&2
  exit 1
fi
echo "promtool: exposition parses; $families service-metrics families, no problems beyond Envoy's missing HELP text and the millisecond unit"
