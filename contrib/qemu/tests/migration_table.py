#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Timed live migrations with a real QEMU, for the seed-003 table.

Runs --runs live migrations of one configuration: a source QEMU (--qemu,
--accel, optional --clear-bitmap-shift) and a destination QEMU (same
binary, plain -accel kvm) connected by a unix socket, with the guest of
touch.S (rate set by --delay) in hugetlb-backed RAM.  For each run it
records QEMU's own figures (query-migrate: total time, downtime, setup
time, bytes, dirty sync rounds), the guest's progress during the migration
(MiB written per second, as a percentage of the rate just before), and
the source VM's KVM statistics that changed (query-stats: kvm-split's
split_huge_*, clear_dirty_*; upstream's pages_2m before).  The destination
must verify: the guest goes on sweeping there without finding a page that
does not hold what it last wrote.  One JSON object per run on --out (and
a line each on stdout); exit status 1 if a run failed or did not verify.

Which KVM the host runs (Debian's, kvm-split's, its module parameters)
is the caller's business: see vm-test.sh's "table" mode.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_patch_test import VM, Failure  # noqa: E402


def progress(vm):
    return vm.output().count('.')


def rate(vm, secs):
    """MiB the guest wrote per second over secs."""
    a, t = progress(vm), time.time()
    time.sleep(secs)
    return (progress(vm) - a) / (time.time() - t)


def one_run(opts, n):
    tag = '%s-%d' % (opts.name.replace('/', '_'), n)
    uri = 'unix:' + os.path.join(opts.workdir, tag + '.sock')
    src = dst = None
    res = {'config': opts.name, 'run': n}
    try:
        src = VM(opts, tag + '-src', opts.accel)
        dst = VM(opts, tag + '-dst', 'kvm', incoming=True)
        if not src.wait_sweeps(2, 300):
            raise Failure('source guest does not sweep')
        before = src.stats()
        res['rate_before'] = rate(src, opts.sample)
        dst.qmp.cmd('migrate-incoming', uri=uri)
        params = {'downtime-limit': opts.downtime,
                  'max-bandwidth': opts.bandwidth << 20}
        src.qmp.cmd('migrate-set-parameters', **params)
        p0, t0 = progress(src), time.time()
        p1, t1 = p0, t0
        src.qmp.cmd('migrate', uri=uri)
        deadline = t0 + opts.timeout
        forced = False
        while True:
            info = src.qmp.cmd('query-migrate')
            st = info.get('status')
            if st in ('completed', 'failed', 'cancelled'):
                break
            if st == 'active':
                p1, t1 = progress(src), time.time()
            if time.time() > deadline and not forced:
                # Did not converge: let it stop the guest and finish.
                src.qmp.cmd('migrate-set-parameters',
                            **{'downtime-limit': 60000})
                forced = True
            time.sleep(0.05)
        res['status'] = st
        res['forced'] = forced
        ram = info.get('ram', {})
        for k in ('total-time', 'downtime', 'setup-time'):
            res[k] = info.get(k)
        res['bytes'] = ram.get('transferred')
        res['dirty-sync-count'] = ram.get('dirty-sync-count')
        live = max(t1 - t0, 1e-3) if st == 'completed' else None
        res['rate_during'] = (p1 - p0) / live if live else None
        res['progress_pct'] = (100.0 * res['rate_during'] / res['rate_before']
                               if live and res['rate_before'] else None)
        after = src.stats()
        res['pages_2m_before'] = before.get('pages_2m')
        for k in ('split_huge_2m', 'split_huge_1g', 'split_huge_failed',
                  'clear_dirty_chunks', 'clear_dirty_shared_chunks'):
            if k in after:
                res[k] = after[k] - before.get(k, 0)
        if 'clear_dirty_max_hold_ns' in after:
            res['clear_dirty_max_hold_ns'] = after['clear_dirty_max_hold_ns']
        res['verified'] = (st == 'completed' and dst.wait_sweeps(2, 300) and
                           not dst.bad() and not src.bad())
    except (Failure, OSError) as e:
        res['error'] = str(e)
        res['verified'] = False
    finally:
        for vm in (src, dst):
            if vm:
                vm.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--name', required=True)
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--accel', default='kvm')
    ap.add_argument('--payload', required=True)
    ap.add_argument('--mem', type=int, default=512, help='guest MiB')
    ap.add_argument('--delay', type=int, default=0,
                    help="the guest's delay loop after each page")
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--bandwidth', type=int, default=1024, help='MiB/s')
    ap.add_argument('--downtime', type=int, default=300, help='ms')
    ap.add_argument('--timeout', type=int, default=120,
                    help='seconds before the migration is let stop the guest')
    ap.add_argument('--sample', type=float, default=3.0)
    ap.add_argument('--clear-bitmap-shift', type=int)
    ap.add_argument('--out', required=True)
    ap.add_argument('--workdir')
    opts = ap.parse_args()
    opts.workdir = os.path.abspath(opts.workdir or
                                   tempfile.mkdtemp(prefix='qemu-table-'))
    os.makedirs(opts.workdir, exist_ok=True)
    # VM() appends the guest's command line from opts.append.
    opts.append = str(opts.delay)
    # Debian's own QEMU has none of the series' trace events.
    opts.trace = False
    # QEMU's clear size is a property of the migration object.
    opts.extra = []
    if opts.clear_bitmap_shift is not None:
        opts.extra = ['-global', 'migration.x-clear-bitmap-shift=%d' %
                      opts.clear_bitmap_shift]

    ok = True
    with open(opts.out, 'a') as out:
        for n in range(1, opts.runs + 1):
            res = one_run(opts, n)
            out.write(json.dumps(res) + '\n')
            out.flush()
            print('%s run %d: %s' % (opts.name, n, json.dumps(res)),
                  flush=True)
            ok = ok and res['verified']
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
