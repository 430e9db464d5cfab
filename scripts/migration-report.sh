#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn migration_bench's output into a CSV file, a per-scenario summary and
# a chart.
#
#   migration-report.sh <test log> <output dir> [title]
#
# Writes <output dir>/migration.csv (one line per run), migration-avg.csv
# (per scenario averages) and migration.png (gnuplot), and prints the
# averages.  The log is what the harness saved (build/test-logs/<name>.log).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

log=$1 out=$2 title=${3:-migration_bench}
[ -f "$log" ] || die "no log $log"
mkdir -p "$out"
grep '^csv,' "$log" | sed 's/^csv,//' >"$out/migration.csv"
[ "$(wc -l <"$out/migration.csv")" -gt 1 ] || die "$log has no migration results"

# Averages per scenario, in the order the scenarios ran.
awk -F, 'NR == 1 { next }
	!($1 in n) { order[++k] = $1 }
	{ n[$1]++; t[$1] += $3; d[$1] += $4; p[$1] += $5; v[$1] += $7
	  runs[$1] = runs[$1] (runs[$1] == "" ? "" : " ") $3 }
	END {
		print "scenario,runs,avg_total_s,avg_downtime_ms,avg_mib_sent,avg_vcpu_progress_pct,total_s_each"
		for (i = 1; i <= k; i++) {
			s = order[i]
			printf "%s,%d,%.2f,%.1f,%.1f,%.1f,%s\n", s, n[s], t[s] / n[s],
			       d[s] / n[s], p[s] / n[s] * 4096 / 1048576, v[s] / n[s], runs[s]
		}
	}' "$out/migration.csv" >"$out/migration-avg.csv"
awk -F, '{ printf "# %-14s %5s %12s %16s %13s %22s  %s\n", $1, $2, $3, $4, $5, $6, $7 }' \
	"$out/migration-avg.csv"

if ! command -v gnuplot >/dev/null; then
	info "gnuplot not installed (scripts/setup.sh installs it): no chart"
	exit 0
fi
gnuplot <<EOF
set terminal pngcairo size 1200,420 font ",10" noenhanced
set output "$out/migration.png"
set datafile separator ","
set key off
set style data histograms
set style histogram gap 1
set style fill solid 0.8 border -1
set grid ytics
set xtics rotate by -30
set yrange [0:*]
set multiplot layout 1,3 title "$title"
set title "migration time (s, average)"
plot "$out/migration-avg.csv" every ::1 using 3:xtic(1) lc rgb "#4472c4"
set title "sent (MiB, average)"
plot "$out/migration-avg.csv" every ::1 using 5:xtic(1) lc rgb "#ed7d31"
set title "vCPU progress during migration (% of before)"
plot "$out/migration-avg.csv" every ::1 using 6:xtic(1) lc rgb "#70ad47"
unset multiplot
EOF
info "wrote $out/migration.csv, migration-avg.csv, migration.png"
