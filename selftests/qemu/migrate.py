#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Live-migrate a verifying guest between two real QEMUs, ping-pong.

The guest is payload.elf (this directory): it stamps all of its RAM,
verifies every page on each sweep and keeps rewriting pages at a steady
rate, reporting on its serial port.  This script starts a source QEMU
(-accel kvm, or tcg where there is no /dev/kvm), with guest RAM backed by
huge pages (hugetlbfs by default) so that dirty logging has huge mappings
to split, waits for the guest's first verified sweep, then migrates it to
a destination QEMU started with -incoming, and back, --migrations times.
After each migration the destination's serial log must show a full sweep
run after the resume that verified every page, sweep numbers continuing
from the source's (the guest was migrated, not restarted), and no FAIL
anywhere.  Per migration it prints QEMU's query-migrate figures and the
KVM VM statistics QEMU reads from the binary stats fd (query-stats,
provider kvm; kvm-split's split_huge_* and clear_dirty_* among them).

Only the Python 3 standard library; QMP over unix sockets.  Exit status 0
when every migration verified, 1 otherwise (including a QEMU that would
not start, a migration that failed or timed out, a guest that stopped
reporting).  --expect-corruption N inverts that for a check of the check:
the payload corrupts 16 pages after sweep N and the run must fail on it.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from qmp import QMP, Failure, boot_stall, kvm_stats, quit_qemu  # noqa: E402

# KVM VM stats shown per migration (query-stats, target vm, provider kvm).
# pages_* are gauges (the source's mappings when migration completed); the
# rest are counters, shown as the increase during the migration.
GAUGES = ['pages_4k', 'pages_2m', 'pages_1g']
COUNTERS = ['split_huge_2m', 'split_huge_1g', 'split_huge_failed',
            'clear_dirty_chunks', 'clear_dirty_shared_chunks']
PEAKS = ['clear_dirty_max_hold_ns']

SWEEP_RE = re.compile(r'^sweep (\d+) (ok|bad=\d+) ')


def log(msg):
    print('migrate: ' + msg, file=sys.stderr, flush=True)


class Guest:
    """One QEMU process running the payload (source or -incoming)."""

    def __init__(self, opts, index, incoming):
        name = 'q%d' % index
        self.name = name
        self.serial = os.path.join(opts.workdir, name + '.serial')
        self.stderr_path = os.path.join(opts.workdir, name + '.stderr')
        self.qmp_path = os.path.join(opts.workdir, name + '.qmp')
        for p in (self.serial, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        accel = opts.accel
        if opts.dirty_ring:
            accel += ',dirty-ring-size=%d' % opts.dirty_ring
        size = '%dM' % opts.mem
        if opts.backend == 'hugetlbfs':
            mem = ('memory-backend-file,id=ram0,size=%s,mem-path=%s,'
                   'prealloc=on' % (size, hugetlbfs_of(opts, index)))
        elif opts.backend == 'memfd-hugetlb':
            mem = ('memory-backend-memfd,id=ram0,size=%s,hugetlb=on,'
                   'hugetlbsize=2M,prealloc=on' % size)
        elif opts.backend == 'memfd':
            mem = 'memory-backend-memfd,id=ram0,size=%s' % size
        else:
            mem = 'memory-backend-ram,id=ram0,size=%s' % size
        append = 'rate=%d' % opts.rate
        if opts.expect_corruption:
            append += ' corrupt=%d' % opts.expect_corruption
        # x-clear-bitmap-shift is a property of the migration object, not
        # a migrate-set-parameters parameter.
        glob = []
        if opts.clear_bitmap_shift is not None:
            glob = ['-global', 'migration.x-clear-bitmap-shift=%d' %
                    opts.clear_bitmap_shift]
        self.argv = [opts.qemu, '-M', 'pc,memory-backend=ram0',
                     '-accel', accel, '-m', size, '-smp', '1',
                     '-object', mem, '-nodefaults', '-display', 'none',
                     '-no-user-config', '-serial', 'file:' + self.serial,
                     '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                     '-kernel', opts.payload, '-append', append] + glob
        if incoming:
            self.argv += ['-incoming', 'defer']
            if opts.compare_ram:
                self.argv += ['-S']
        log('%s: %s' % (name, ' '.join(self.argv)))
        self.stderr = open(self.stderr_path, 'w')
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        try:
            self.qmp = QMP(self.qmp_path, 60)
        except (Failure, OSError):
            try:
                self.check_alive()
            finally:
                # Never leave a QEMU behind that nobody will quit.
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.stderr.close()
            raise

    def check_alive(self):
        if self.proc.poll() is not None:
            self.stderr.flush()
            with open(self.stderr_path) as f:
                err = f.read().strip()
            raise Failure('%s: QEMU exited with %d: %s' %
                          (self.name, self.proc.returncode, err))

    def lines(self):
        try:
            with open(self.serial, errors='replace') as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def sweeps(self):
        """(number, ok) of the complete sweep lines so far."""
        out = []
        for line in self.lines():
            m = SWEEP_RE.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2) == 'ok'))
        return out

    def check_log(self):
        for line in self.lines():
            if 'FAIL' in line:
                raise Failure('%s: guest reports: %s' % (self.name, line))
        for n, ok in self.sweeps():
            if not ok:
                raise Failure('%s: sweep %d found bad pages' % (self.name, n))

    def kvm_stats(self):
        """VM stats from KVM's binary stats fd, through QEMU."""
        return kvm_stats(self.qmp) if self.accel_kvm else {}

    def quit(self):
        quit_qemu(self.qmp, self.proc, 30)
        self.qmp.close()
        self.stderr.close()


def boot_source(opts, guests):
    """Start the source guest; once again if the firmware stall
    (qmp.firmware_stall()) caught it before it printed anything."""
    for attempt in (1, 2):
        src = Guest(opts, 0, incoming=False)
        guests.append(src)
        # Only KVM's guests: under TCG here a slow boot is just slow.
        # check_alive() raises if QEMU exited.
        stall = boot_stall(src.qmp, src.lines,
                           lambda: src.check_alive() or True) \
            if Guest.accel_kvm else None
        if not stall:
            return src
        if attempt == 2:
            raise Failure('q0: the firmware stall again: %s' % stall)
        log('q0: %s before the payload ran: the firmware stall '
            '(Documentation/qemu.rst); starting the guest again' % stall)
        src.quit()
        guests.remove(src)


def wait_first_sweep(guest, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        guest.check_alive()
        guest.check_log()
        if any(ok for _, ok in guest.sweeps()):
            return
        time.sleep(0.2)
    raise Failure('%s: no verified sweep within %ds' % (guest.name, timeout))


def migrate_once(opts, src, dst, n):
    """Migrate src to dst; returns the row of figures."""
    uri = 'unix:' + os.path.join(opts.workdir, 'mig%d.sock' % n)
    params = {}
    if opts.bandwidth:
        params['max-bandwidth'] = opts.bandwidth * 1024 * 1024
    if opts.downtime_limit:
        params['downtime-limit'] = opts.downtime_limit
    dst.qmp.cmd('migrate-incoming', uri=uri)
    if params:
        src.qmp.cmd('migrate-set-parameters', **params)
    before = src.kvm_stats()
    t0 = time.time()
    src.qmp.cmd('migrate', uri=uri)
    while True:
        info = src.qmp.cmd('query-migrate')
        status = info.get('status')
        if status == 'completed':
            break
        if status in ('failed', 'cancelled'):
            raise Failure('migration %d %s: %s' %
                          (n, status, info.get('error-desc', '')))
        if time.time() - t0 > opts.timeout:
            src.qmp.cmd('migrate_cancel')
            raise Failure('migration %d did not complete in %ds (%s)' %
                          (n, opts.timeout, json.dumps(info.get('ram', {}))))
        src.check_alive()
        dst.check_alive()
        time.sleep(0.1)
    after = src.kvm_stats()
    # The source is stopped now: its log ends where the guest left it.
    src_last = max([s for s, _ in src.sweeps()] or [0])
    ram = info.get('ram', {})
    row = {
        'n': n, 'from': src.name, 'to': dst.name,
        'total_ms': info.get('total-time'),
        'downtime_ms': info.get('downtime'),
        'setup_ms': info.get('setup-time'),
        'mib': ram.get('transferred', 0) / 1048576.0,
        'syncs': ram.get('dirty-sync-count'),
        'dirty_pps': ram.get('dirty-pages-rate'),
        'stats': {},
    }
    # Huge mappings when the migration started, and what is left of them.
    for k in ('pages_2m', 'pages_1g'):
        if k in before:
            row['stats'][k + '_start'] = before[k]
    for k in GAUGES + PEAKS:
        if k in after:
            row['stats'][k] = after[k]
    for k in COUNTERS:
        if k in after:
            row['stats'][k] = after[k] - before.get(k, 0)

    if opts.stats_cmd:
        # As an operator reads them: e.g. kvm_stat -1 -d -p {pid}, while
        # the source VM still exists.
        cmd = opts.stats_cmd.replace('{pid}', str(src.proc.pid))
        res = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             universal_newlines=True)
        if res.returncode != 0:
            raise Failure('--stats-cmd %r: exit %d: %s' %
                          (cmd, res.returncode, res.stdout.strip()))
        row['stats_cmd'] = res.stdout
        with open(os.path.join(opts.workdir, 'stats%d.txt' % n), 'w') as f:
            f.write('$ %s\n%s' % (cmd, res.stdout))
        log('migration %d: %s (source QEMU %s):\n%s' %
            (n, cmd, src.name, res.stdout.rstrip()))
    if opts.compare_ram:
        row['ram_diff_pages'] = compare_ram(opts, src, dst, n)
        dst.qmp.cmd('cont')

    # The destination runs on its own; it must verify a full sweep
    # that started after the resume, counting on from the source's sweeps.
    deadline = time.time() + opts.verify_timeout
    while True:
        dst.check_alive()
        dst.check_log()
        status = dst.qmp.cmd('query-status').get('status')
        sw = dst.sweeps()
        if any('payload: boot' in line for line in dst.lines()):
            raise Failure('%s: the guest rebooted after migration' % dst.name)
        if sw:
            first = sw[0][0]
            if not src_last < first <= src_last + 3:
                raise Failure('%s: first sweep %d after migration, source '
                              'was at %d: not the migrated guest' %
                              (dst.name, first, src_last))
            full = [s for s, ok in sw if ok and s > first]
            if status == 'running' and full:
                row['verified_sweep'] = full[0]
                break
        if time.time() > deadline:
            raise Failure('%s: no full verified sweep within %ds after '
                          'migration %d (status %s, sweeps %s)' %
                          (dst.name, opts.verify_timeout, n, status, sw[-3:]))
        time.sleep(0.2)
    src.check_log()
    return row


def compare_ram(opts, src, dst, n):
    """Both stopped at the switchover: their RAM must be identical.

    Dumped (pmemsave) and compared 64 MiB at a time, so that the dumps
    never hold much memory (/tmp is a tmpfs in the test VM).
    """
    chunk = 64 << 20
    size = opts.mem << 20
    diff = []
    paths = [os.path.join(opts.workdir, '%s.ram' % g.name) for g in (src, dst)]
    for off in range(0, size, chunk):
        length = min(chunk, size - off)
        for g, path in zip((src, dst), paths):
            g.qmp.cmd('pmemsave', val=off, size=length, filename=path)
        with open(paths[0], 'rb') as a, open(paths[1], 'rb') as b:
            page = off >> 12
            while True:
                x, y = a.read(4096), b.read(4096)
                if not x and not y:
                    break
                if x != y:
                    diff.append(page)
                page += 1
    for path in paths:
        os.unlink(path)
    if diff:
        raise Failure('migration %d: %d pages of RAM differ between source '
                      'and destination at the switchover (pfns %s)' %
                      (n, len(diff), ' '.join('0x%x' % p for p in diff[:8])))
    return 0


def print_table(rows, out):
    keys = []
    for r in rows:
        for k in r['stats']:
            if k not in keys:
                keys.append(k)
    hdr = ['#', 'total ms', 'downtime ms', 'setup ms', 'MiB sent',
           'dirty syncs', 'verified sweep'] + keys
    lines = [hdr]
    for r in rows:
        lines.append([str(r['n']), str(r['total_ms']), str(r['downtime_ms']),
                      str(r['setup_ms']), '%.1f' % r['mib'], str(r['syncs']),
                      str(r.get('verified_sweep', '-'))] +
                     [str(r['stats'].get(k, '-')) for k in keys])
    w = [max(len(l[i]) for l in lines) for i in range(len(hdr))]
    for l in lines:
        out.write('  '.join(c.rjust(w[i]) for i, c in enumerate(l)) + '\n')
    out.flush()


def summarize(paths, out):
    """One line per run (--json files): averages and the verdict."""
    keys = []
    runs = []
    for p in paths:
        try:
            with open(p) as f:
                runs.append(json.load(f))
        except (OSError, ValueError) as e:
            runs.append({'label': p, 'rows': [], 'error': str(e)})
    for r in runs:
        for row in r['rows']:
            for k in row['stats']:
                if k not in keys:
                    keys.append(k)
    hdr = ['run', 'verified', 'avg total ms', 'avg downtime ms',
           'avg MiB sent', 'avg dirty syncs'] + keys
    lines = [hdr]
    for r in runs:
        rows = r['rows']
        m = max(len(rows), 1)
        def avg(k):
            return '%.0f' % (sum((x[k] or 0) for x in rows) / m)
        vals = []
        for k in keys:
            v = [x['stats'][k] for x in rows if k in x['stats']]
            if not v:
                vals.append('-')
            elif k in COUNTERS:
                vals.append(str(sum(v)))
            else:
                vals.append(str(max(v)))
        lines.append([r.get('label') or '?',
                      'caught' if r.get('expect_corruption') else
                      '%d/%d' % (len(rows), len(rows) + (1 if r.get('error')
                                                         else 0)),
                      avg('total_ms'), avg('downtime_ms'),
                      '%.1f' % (sum(x['mib'] for x in rows) / m),
                      '%.1f' % (sum((x['syncs'] or 0) for x in rows) / m)] +
                     vals)
    w = [max(len(l[i]) for l in lines) for i in range(len(hdr))]
    for l in lines:
        out.write('  '.join(c.rjust(w[i]) for i, c in enumerate(l)) + '\n')
    for r in runs:
        if r.get('expect_corruption'):
            out.write('%s: the corruption %s: %s\n' %
                      (r.get('label'), 'was caught' if r.get('error') else
                       'WENT UNNOTICED', r.get('error')))
        elif r.get('error'):
            out.write('%s: FAILED: %s\n' % (r.get('label'), r['error']))
    out.write('(counters: sum over the run\'s migrations; pages_* and '
              'peaks: the largest at a completion)\n')
    return 1 if any(bool(r.get('error')) != bool(r.get('expect_corruption'))
                    for r in runs) else 0


def hugetlbfs_of(opts, index):
    """Guest <index>'s hugetlbfs: --hugetlbfs-alt for every other one."""
    if opts.hugetlbfs_alt and index % 2:
        return opts.hugetlbfs_alt
    return opts.hugetlbfs


def hugetlbfs_page_kb(path):
    """The page size of the hugetlbfs mounted at path, in KiB."""
    with open('/proc/mounts') as f:
        for m in (l.split() for l in f):
            if m[1] != path or m[2] != 'hugetlbfs':
                continue
            for o in m[3].split(','):
                if o.startswith('pagesize='):
                    v = o[len('pagesize='):].upper()
                    mult = {'K': 1, 'M': 1024, 'G': 1024 * 1024}
                    return int(v[:-1]) * mult[v[-1]]
            with open('/proc/meminfo') as mi:
                for l in mi:
                    if l.startswith('Hugepagesize:'):
                        return int(l.split()[1])
    raise Failure('%s is not a hugetlbfs mount (mount -t hugetlbfs none %s, '
                  'or --backend)' % (path, path))


def check_hugepages(opts):
    """The huge page backend must really be there: no silent fallback."""
    need = {}
    if opts.backend == 'hugetlbfs':
        # Source and destination run together: on one hugetlbfs, or one
        # each with --hugetlbfs-alt.
        paths = [opts.hugetlbfs] * 2
        if opts.hugetlbfs_alt:
            paths = [opts.hugetlbfs, opts.hugetlbfs_alt]
        for p in paths:
            kb = hugetlbfs_page_kb(p)
            if (opts.mem * 1024) % kb:
                raise Failure('--mem %d is not a multiple of %s\'s %d KiB '
                              'pages' % (opts.mem, p, kb))
            need[kb] = need.get(kb, 0) + opts.mem * 1024 // kb
    elif opts.backend == 'memfd-hugetlb':
        need[2048] = opts.mem
    for kb, n in need.items():
        path = '/sys/kernel/mm/hugepages/hugepages-%dkB/free_hugepages' % kb
        try:
            with open(path) as f:
                free = int(f.read())
        except OSError:
            free = 0
        if free < n:
            raise Failure('%d free %d KiB huge pages, source and destination '
                          'need %d (%s)' % (free, kb, n, path))
        log('huge pages: %d of %d KiB needed, %d free' % (n, kb, free))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--payload', default=os.path.join(TOP, 'build', 'qemu',
                                                      'payload.elf'))
    ap.add_argument('--qemu', default='qemu-system-x86_64')
    ap.add_argument('--accel', choices=['kvm', 'tcg'],
                    help='default: kvm when /dev/kvm opens, else tcg')
    ap.add_argument('--mem', type=int, default=256, help='guest MiB')
    ap.add_argument('--backend', default='hugetlbfs',
                    choices=['hugetlbfs', 'memfd-hugetlb', 'memfd', 'ram'],
                    help='guest RAM (default hugetlbfs)')
    ap.add_argument('--hugetlbfs', default='/dev/hugepages',
                    help='hugetlbfs mount of the first source (default '
                    '/dev/hugepages)')
    ap.add_argument('--hugetlbfs-alt', metavar='PATH',
                    help='hugetlbfs of every other guest (the destinations '
                    'of odd migrations): e.g. 1 GiB pages on --hugetlbfs, '
                    '2 MiB here, so that one free 1 GiB page is enough')
    ap.add_argument('--migrations', type=int, default=4,
                    help='ping-pong migrations (default 4)')
    ap.add_argument('--rate', type=int, default=16,
                    help='guest dirty rate, MiB/s (default 16)')
    ap.add_argument('--dirty-ring', type=int, default=0,
                    help='-accel kvm,dirty-ring-size=N (entries)')
    ap.add_argument('--clear-bitmap-shift', type=int,
                    help='migration parameter x-clear-bitmap-shift')
    ap.add_argument('--bandwidth', type=int, default=0,
                    help='max-bandwidth, MiB/s (default: QEMU\'s)')
    ap.add_argument('--downtime-limit', type=int, default=0,
                    help='downtime-limit, ms (default: QEMU\'s)')
    ap.add_argument('--timeout', type=int, default=600,
                    help='seconds per migration')
    ap.add_argument('--verify-timeout', type=int, default=300,
                    help='seconds for the destination\'s full sweep')
    ap.add_argument('--workdir', help='logs and sockets (default: a new '
                    'directory under build/qemu/)')
    ap.add_argument('--compare-ram', action='store_true',
                    help='start destinations with -S and compare both RAMs '
                    'byte for byte at the switchover (pmemsave)')
    ap.add_argument('--stats-cmd', metavar='CMD',
                    help='shell command run after each migration while the '
                    'source exists, {pid} its pid (e.g. "kvm_stat -1 -d '
                    '-p {pid}"); its output is logged; failing fails')
    ap.add_argument('--json', help='write the figures here')
    ap.add_argument('--label', default='', help='name of the run, in output')
    ap.add_argument('--expect-corruption', type=int, default=0, metavar='N',
                    help='payload corrupts 16 pages after sweep N; the run '
                    'must fail on it (check of the check)')
    ap.add_argument('--summarize', nargs='+', metavar='JSON',
                    help='only print one table of these --json files')
    opts = ap.parse_args()
    if opts.summarize:
        return summarize(opts.summarize, sys.stdout)

    if not os.path.exists(opts.payload):
        log('no payload %s (make -C selftests/qemu)' % opts.payload)
        return 1
    if not shutil.which(opts.qemu):
        log('no %s' % opts.qemu)
        return 1
    if opts.accel is None:
        opts.accel = 'kvm' if os.access('/dev/kvm', os.R_OK | os.W_OK) else 'tcg'
    if opts.dirty_ring and opts.accel != 'kvm':
        log('--dirty-ring needs --accel kvm')
        return 1
    if not opts.workdir:
        base = os.path.join(TOP, 'build', 'qemu')
        os.makedirs(base, exist_ok=True)
        opts.workdir = tempfile.mkdtemp(prefix='run.', dir=base)
    os.makedirs(opts.workdir, exist_ok=True)
    Guest.accel_kvm = opts.accel == 'kvm'
    log('%s: accel %s, %d MiB on %s, %d migrations, guest writes %d MiB/s, '
        'logs in %s' % (opts.label or 'run', opts.accel, opts.mem,
                        opts.backend, opts.migrations, opts.rate,
                        opts.workdir))

    rows = []
    guests = []
    err = None
    try:
        check_hugepages(opts)
        src = boot_source(opts, guests)
        wait_first_sweep(src, opts.verify_timeout)
        log('q0: guest verified its memory: %s' %
            [l for l in src.lines() if l.startswith('payload: boot')][0])
        for n in range(1, opts.migrations + 1):
            dst = Guest(opts, n, incoming=True)
            guests.append(dst)
            row = migrate_once(opts, src, dst, n)
            rows.append(row)
            log('migration %d (%s -> %s): %s ms, downtime %s ms, %.1f MiB, '
                '%s syncs, destination verified sweep %d' %
                (n, src.name, dst.name, row['total_ms'], row['downtime_ms'],
                 row['mib'], row['syncs'], row['verified_sweep']))
            src.quit()
            guests.remove(src)
            src = dst
        if opts.expect_corruption:
            # Run on until the corrupted sweep must have been checked.
            want = opts.expect_corruption + 2
            deadline = time.time() + opts.verify_timeout
            while max([s for s, _ in src.sweeps()] or [0]) < want:
                src.check_alive()
                src.check_log()
                if time.time() > deadline:
                    raise Failure('%s: no sweep %d' % (src.name, want))
                time.sleep(0.2)
            src.check_log()
    except (Failure, OSError) as e:
        err = '%s: %s' % (type(e).__name__, e) if isinstance(e, OSError) \
            else str(e)
    finally:
        for g in guests:
            g.quit()

    if rows:
        print('# %s: accel %s, %d MiB %s, guest writes %d MiB/s%s%s%s%s' %
              (opts.label or 'migrate.py', opts.accel, opts.mem, opts.backend,
               opts.rate,
               ', dirty ring %d' % opts.dirty_ring if opts.dirty_ring else '',
               ', x-clear-bitmap-shift %d' % opts.clear_bitmap_shift
               if opts.clear_bitmap_shift is not None else '',
               ', max-bandwidth %d MiB/s' % opts.bandwidth
               if opts.bandwidth else '',
               ', downtime-limit %d ms' % opts.downtime_limit
               if opts.downtime_limit else ''))
        print_table(rows, sys.stdout)
    if opts.json:
        with open(opts.json, 'w') as f:
            json.dump({'label': opts.label, 'accel': opts.accel,
                       'mem': opts.mem, 'backend': opts.backend,
                       'rate': opts.rate, 'dirty_ring': opts.dirty_ring,
                       'clear_bitmap_shift': opts.clear_bitmap_shift,
                       'bandwidth': opts.bandwidth, 'rows': rows,
                       'expect_corruption': opts.expect_corruption,
                       'error': err}, f, indent=1)

    if opts.expect_corruption:
        if err and ('FAIL page' in err or 'found bad pages' in err):
            log('PASS: the corruption was detected: %s' % err)
            return 0
        log('FAIL: the corrupted pages went unnoticed (%s)' % err)
        return 1
    if err:
        log('FAIL: %s' % err)
        return 1
    log('PASS: %d migrations, each verified by the destination' % len(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
