#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise migration_table.py's runs: an RST table and a chart.

  table-report.py <table.json> <out prefix>

Reads the JSON lines of vm-test.sh table (build/qemu/vm-logs/table.json),
prints an RST table (per configuration: runs, verified, averages with
min-max), writes <prefix>.csv (the averages) and, with gnuplot,
<prefix>.png (migration time, downtime, guest progress).
"""

import json
import os
import subprocess
import sys


COLS = [
    # key, heading, scale, format
    ('total-time', 'total ms', 1, '%.0f'),
    ('downtime', 'downtime ms', 1, '%.0f'),
    ('setup-time', 'setup ms', 1, '%.0f'),
    ('bytes', 'sent MiB', 1.0 / (1 << 20), '%.0f'),
    ('dirty-sync-count', 'syncs', 1, '%.1f'),
    ('progress_pct', 'guest %', 1, '%.0f'),
    ('split_huge_2m', 'split 2M', 1, '%.0f'),
    ('clear_dirty_chunks', 'chunks', 1, '%.0f'),
    ('clear_dirty_max_hold_ns', 'max hold ms', 1e-6, '%.2f'),
]


def cell(vals, scale, fmt):
    vals = [v * scale for v in vals if v is not None]
    if not vals:
        return '-'
    avg = sum(vals) / len(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return fmt % avg
    return (fmt + ' (' + fmt + '-' + fmt + ')') % (avg, min(vals), max(vals))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    order = []
    by = {}
    for r in runs:
        if r['config'] not in by:
            order.append(r['config'])
            by[r['config']] = []
        by[r['config']].append(r)

    head = ['configuration', 'runs', 'verified'] + [c[1] for c in COLS]
    rows = []
    for name in order:
        rs = by[name]
        row = [name, str(len(rs)), str(sum(1 for r in rs if r['verified']))]
        for key, _, scale, fmt in COLS:
            row.append(cell([r.get(key) for r in rs], scale, fmt))
        rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    sep = '  '.join('=' * w for w in widths)
    print(sep)
    print('  '.join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    print(sep)
    for row in rows:
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(sep)

    prefix = sys.argv[2]
    with open(prefix + '.csv', 'w') as f:
        f.write('config,total_s,downtime_ms,progress_pct\n')
        for name in order:
            rs = by[name]

            def avg(k, scale=1.0):
                v = [r[k] * scale for r in rs if r.get(k) is not None]
                return sum(v) / len(v) if v else 0
            f.write('%s,%.3f,%.1f,%.1f\n' % (name, avg('total-time', 1e-3),
                                             avg('downtime'),
                                             avg('progress_pct')))
    script = '''
set terminal pngcairo size 1260,520 font ",10" noenhanced
set output "%(p)s.png"
set datafile separator ","
set key off
set style data histograms
set style histogram gap 1
set style fill solid 0.8 border -1
set grid ytics
set xtics rotate by -40
set yrange [0:*]
set bmargin 12
set multiplot layout 1,3 title "%(t)s"
set title "migration time (s, average)"
plot "%(p)s.csv" every ::1 using 2:xtic(1) lc rgb "#4472c4"
set title "downtime (ms, average)"
plot "%(p)s.csv" every ::1 using 3:xtic(1) lc rgb "#ed7d31"
set title "guest progress during migration (%% of before)"
plot "%(p)s.csv" every ::1 using 4:xtic(1) lc rgb "#70ad47"
unset multiplot
''' % {'p': prefix,
       't': 'Live migration with a real QEMU (Debian 13 test VM, TCG)'}
    try:
        subprocess.run(['gnuplot'], input=script, text=True, check=True)
        print('wrote %s.csv, %s.png' % (prefix, os.path.basename(prefix)),
              file=sys.stderr)
    except (OSError, subprocess.CalledProcessError) as e:
        print('no chart: %s' % e, file=sys.stderr)


if __name__ == '__main__':
    main()
