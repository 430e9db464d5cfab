#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of contrib/qemu's QEMU series: what QEMU itself does.

Run on a host (the Debian 13 test VM) with the patched qemu-system-x86_64:

  qemu_patch_test.py --qemu <binary> --payload touch.elf --expect stock
  qemu_patch_test.py --qemu <binary> --payload touch.elf --expect kvm-split

--expect says which KVM the test must find (checked with
KVM_CHECK_EXTENSION on /dev/kvm, a mismatch is a failure): Debian's own
(stock) or kvm-split's.  --no-kvm runs only what needs no /dev/kvm
(property parsing), e.g. on a build machine.

Checks:
  properties   qom-list-properties lists the two properties; bad values are
               refused before KVM is touched
  stock        each property, set on stock KVM, fails startup with a message
               naming the missing capability; without them the guest runs
               and migrates as with Debian's QEMU (probe trace all 0)
  unset        on kvm-split without the properties: no slot update carries
               a kvm-split flag, no kvm-split call, split and chunk
               statistics unchanged by a migration
  kvm-split    with both: the capabilities are probed; a migration splits
               the guest's 2 MiB mappings ahead (kvm_split_huge_pages_ahead
               trace, split_huge_2m, pages_2m falls to 0 during the
               migration), chunks its clears (clear_dirty_chunks), and
               completes; "cont" on the source afterwards gives the huge
               pages back (pages_2m back up); the order of the slot
               updates (trace kvm_set_user_memory): every one with dirty
               logging carries the 4 KiB cap and follows the split, the cap
               is lifted only after logging is off
  1g           a 2 GiB guest on 1 GiB pages: its 1 GiB mapping is split
               during a migration and rebuilt in place after a cancel
  migrate      a live migration to a second QEMU (unix socket): the guest
               checks every page of its RAM on the destination
  cancel       migrate_cancel in the middle of the migration: the cap is
               raised again (trace) and the huge pages come back in place
               (pages_2m back up, no slow-path vCPU fault: not zapped and
               faulted back) while the guest runs on; and right after
               migrate (before, during or after the split: a race, the
               path taken is printed), with the same outcome
  failed       a migration whose destination dies gives the huge pages back
               too; a second migration then splits them again and completes
  paused       a stopped guest's migration neither splits ahead nor caps;
               after a cancel and "cont" the guest runs on huge pages

Guest RAM is memfd-backed with 2 MiB hugetlb pages (vm.nr_hugepages is
raised if needed); the guest is touch.elf, which writes every page of its
RAM in a loop.  Every failure to run counts as a failure, never a skip.
Output: "ok"/"FAIL" lines, then a summary; exit status 1 on any failure.
"""

import argparse
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import time

# qmp.py: beside this file in the test VM, in selftests/qemu/ in the tree.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, '../../../selftests/qemu')]
from qmp import QMP, Failure, boot_stall, kvm_stats, quit_qemu  # noqa: E402

KVM_CHECK_EXTENSION = 0xAE03
KVM_CAP_SPLIT_HUGE_PAGES = 0x4b530002
KVM_CAP_MEMSLOT_PAGE_SIZES = 0x4b530001
KVM_CAP_CLEAR_DIRTY_LOG_CHUNK = 0x4b530003

failures = []
# Guests started again after the firmware stall (qmp.firmware_stall()).
restarts = []


def log(msg):
    print(msg, flush=True)


def check(cond, name, detail=''):
    if cond:
        log('ok     %s' % name)
    else:
        log('FAIL   %s%s' % (name, (': ' + detail) if detail else ''))
        failures.append(name)
    return cond


class VM:
    def __init__(self, opts, name, accel, incoming=False):
        self.opts = opts
        self.name = name
        self.dir = opts.workdir
        self.serial = os.path.join(self.dir, name + '.serial')
        self.log = os.path.join(self.dir, name + '.log')
        self.qmp_path = os.path.join(self.dir, name + '.qmp')
        mem = '%dM' % opts.mem
        self.argv = [opts.qemu, '-M', 'pc,memory-backend=ram0',
                     '-accel', accel, '-m', mem, '-smp', '1',
                     '-object', 'memory-backend-memfd,id=ram0,size=%s,'
                     'hugetlb=on,hugetlbsize=%s' %
                     (mem, getattr(opts, 'hugesize', '2M')),
                     '-nodefaults', '-display', 'none', '-no-user-config',
                     '-serial', 'file:' + self.serial,
                     '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                     '-kernel', opts.payload]
        if getattr(opts, 'trace', True):
            self.argv += ['-trace', 'kvm_split*', '-D', self.log]
        self.argv += getattr(opts, 'extra', [])
        if getattr(opts, 'append', None):
            self.argv += ['-append', opts.append]
        if incoming:
            self.argv += ['-incoming', 'defer']
        log('# %s: %s' % (name, ' '.join(self.argv)))
        self.start()
        if incoming or not getattr(opts, 'restart_on_stall', True):
            return
        # The firmware stall (qmp.firmware_stall()) catches about one
        # boot in a hundred or two, on Debian's KVM too, before touch.elf
        # runs: start such a guest once more, and say so.
        stall = self.boot_stall()
        if stall:
            log('# %s: %s before touch.elf ran: the firmware stall '
                '(Documentation/qemu.rst); starting it again' % (name, stall))
            restarts.append(name)
            self.stop()
            self.start()
            stall = self.boot_stall()
            if stall:
                self.stop()
                raise Failure('%s: the firmware stall again: %s' %
                              (name, stall))

    def start(self):
        for p in (self.serial, self.log, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        self.err = open(os.path.join(self.dir, self.name + '.stderr'), 'w')
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err)
        try:
            self.qmp = QMP(self.qmp_path, 30)
        except Failure:
            self.stop()
            raise Failure('%s did not start: %s' % (self.name, self.stderr()))

    def boot_stall(self):
        return boot_stall(self.qmp, self.output,
                          lambda: self.proc.poll() is None)

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read().strip()

    def trace(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def output(self):
        try:
            with open(self.serial, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def sweeps(self):
        return self.output().count('sweep')

    def bad(self):
        """The guest found a page that did not hold what it wrote."""
        return 'BAD' in self.output()

    def wait_sweeps(self, n, timeout=180):
        """Wait until the guest has completed n more sweeps."""
        want = self.sweeps() + n
        deadline = time.time() + timeout
        while self.sweeps() < want:
            if time.time() > deadline or self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return True

    def stats(self, target='vm'):
        return kvm_stats(self.qmp, target)

    def migrate(self, uri, bandwidth=None):
        # The guest dirties all of its RAM all the time: let the migration
        # stop it after the first pass rather than never converge.
        # max-bandwidth stays set from one migration to the next: always
        # set it (QEMU's default is 128 MiB/s).
        params = {'downtime-limit': 60000,
                  'max-bandwidth': 128 << 20 if bandwidth is None
                  else bandwidth}
        self.qmp.cmd('migrate-set-parameters', **params)
        self.qmp.cmd('migrate', uri=uri)

    def wait_status(self, want, timeout=120):
        deadline = time.time() + timeout
        while True:
            st = self.qmp.cmd('query-migrate').get('status')
            if st in want or time.time() > deadline:
                return st
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            quit_qemu(getattr(self, 'qmp', None), self.proc, 10)
        self.err.close()


def run_qemu(opts, accel, timeout=30):
    """Start QEMU expecting it to exit; return (rc, output)."""
    argv = [opts.qemu, '-M', 'pc', '-accel', accel, '-display', 'none',
            '-nodefaults', '-no-user-config', '-S']
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, 'did not exit within %ds' % timeout
    return p.returncode, p.stdout + p.stderr


def kvm_flavour():
    fd = os.open('/dev/kvm', os.O_RDWR)
    try:
        caps = [fcntl.ioctl(fd, KVM_CHECK_EXTENSION, c)
                for c in (KVM_CAP_SPLIT_HUGE_PAGES, KVM_CAP_MEMSLOT_PAGE_SIZES,
                          KVM_CAP_CLEAR_DIRTY_LOG_CHUNK)]
    finally:
        os.close(fd)
    return ('kvm-split' if all(caps) else 'stock'), caps


def ensure_hugepages(opts):
    need = opts.mem + 16        # two guests at a time, 2 MiB pages
    path = '/proc/sys/vm/nr_hugepages'
    with open(path) as f:
        have = int(f.read())
    if have < need:
        with open(path, 'w') as f:
            f.write(str(need))
        with open(path) as f:
            have = int(f.read())
    if not check(have >= need, 'hugepages: %d 2 MiB pages reserved' % have,
                 'need %d' % need):
        raise Failure('not enough huge pages')


def test_properties(opts):
    # QEMU 10.0 has no "-accel kvm,help": ask QMP, which needs no KVM.
    cmds = [{'execute': 'qmp_capabilities'},
            {'execute': 'qom-list-properties',
             'arguments': {'typename': 'kvm-accel'}},
            {'execute': 'quit'}]
    p = subprocess.run([opts.qemu, '-M', 'none', '-accel', 'qtest',
                        '-display', 'none', '-nodefaults', '-qmp', 'stdio'],
                       input=''.join(json.dumps(c) + '\n' for c in cmds),
                       capture_output=True, text=True, timeout=30)
    props = {}
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if isinstance(msg.get('return'), list):
            props = {x['name']: x for x in msg['return']}
    for name, typ in (('split-huge-pages-ahead', 'bool'),
                      ('clear-dirty-log-chunk', 'size')):
        check(props.get(name, {}).get('type') == typ and
              'kvm-split' in props[name].get('description', ''),
              'properties: qom-list-properties kvm-accel has %s (%s)' %
              (name, typ), str(props.get(name)) + p.stderr)
    for val in ('3M', '128K', '2G'):
        rc, out = run_qemu(opts, 'kvm,clear-dirty-log-chunk=' + val)
        check(rc not in (0, None) and
              'must be 0 or a power of two from 256K to 1G' in out,
              'properties: clear-dirty-log-chunk=%s refused' % val,
              'rc %s: %s' % (rc, out.strip()))
    rc, out = run_qemu(opts, 'kvm,split-huge-pages-ahead=maybe')
    check(rc not in (0, None) and 'split-huge-pages-ahead' in out,
          'properties: split-huge-pages-ahead=maybe refused',
          'rc %s: %s' % (rc, out.strip()))


def probe_line(vm):
    m = re.search(r'kvm_split_probe split page sizes (\S+) memslot caps (\S+) '
                  r'clear chunk (\d)', vm.trace())
    return m.groups() if m else None


def test_stock(opts):
    rc, out = run_qemu(opts, 'kvm,split-huge-pages-ahead=on')
    check(rc not in (0, None) and 'needs KVM_SPLIT_HUGE_PAGES' in out,
          'stock: split-huge-pages-ahead=on fails startup with a message',
          'rc %s: %s' % (rc, out.strip()))
    rc, out = run_qemu(opts, 'kvm,clear-dirty-log-chunk=1M')
    check(rc not in (0, None) and 'needs KVM_CAP_CLEAR_DIRTY_LOG_CHUNK' in out,
          'stock: clear-dirty-log-chunk=1M fails startup with a message',
          'rc %s: %s' % (rc, out.strip()))
    rc, out = run_qemu(opts, 'kvm,split-huge-pages-ahead=off', timeout=5)
    check(rc is None, 'stock: split-huge-pages-ahead=off starts (still '
          'running after 5 s)',
          'rc %s: %s' % (rc, out.strip()))

    vm = VM(opts, 'stock', 'kvm')
    try:
        check(vm.wait_sweeps(2), 'stock: guest runs (sweeps on its serial)')
        check(probe_line(vm) == ('0x0', '0x0', '0'),
              'stock: probe finds none of kvm-split', str(probe_line(vm)))
        vm.migrate('file:' + os.path.join(opts.workdir, 'stock.mig'))
        st = vm.wait_status(('completed', 'failed', 'cancelled'))
        check(st == 'completed', 'stock: migration to a file completes', st)
        check('kvm_split_huge_pages' not in vm.trace() and
              'kvm_split_page_size_cap' not in vm.trace(),
              'stock: no kvm-split call during the migration')
        vm.qmp.cmd('cont')
        check(vm.wait_sweeps(1), 'stock: guest resumes after the migration')
    finally:
        vm.stop()


def caps_traced(vm):
    return re.findall(r'kvm_split_page_size_cap cap (\S+) ret (-?\d+)',
                      vm.trace())


MEM_LOG_DIRTY = 0x1
MEM_MAX_PAGE_MASK = 0xc000      # KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K
MEM_MAX_PAGE_4K = 0x8000
TRACE_SLOTS = ['-trace', 'kvm_set_user_memory']


def slot_updates(vm):
    """(line index, slot, flags) of each KVM_SET_USER_MEMORY_REGION."""
    out = []
    for i, line in enumerate(vm.trace().splitlines()):
        m = re.search(r'kvm_set_user_memory AddrSpace#(\d+) Slot#(\d+) '
                      r'flags=0x([0-9a-f]+)', line)
        if m:
            out.append((i, (int(m.group(1)), int(m.group(2))),
                        int(m.group(3), 16)))
    return out


def trace_index(vm, pattern):
    for i, line in enumerate(vm.trace().splitlines()):
        if re.search(pattern, line):
            return i
    return None


def with_slot_trace(opts):
    o = argparse.Namespace(**vars(opts))
    o.extra = list(getattr(opts, 'extra', [])) + TRACE_SLOTS
    return o


def test_kvm_split(opts):
    accel = 'kvm,split-huge-pages-ahead=on,clear-dirty-log-chunk=1M'
    vm = VM(with_slot_trace(opts), 'ksplit', accel)
    try:
        check(vm.wait_sweeps(2), 'kvm-split: guest runs',
              'serial %r, stderr %r' % (vm.output()[-80:], vm.stderr()[-300:]))
        pl = probe_line(vm)
        check(pl is not None and int(pl[0], 16) & 4096 and
              int(pl[1], 16) & 0x8000 and pl[2] == '1',
              'kvm-split: probe finds the three capabilities', str(pl))
        before = vm.stats()
        check(before.get('pages_2m', 0) > 0,
              'kvm-split: guest RAM is mapped with 2 MiB pages before the '
              'migration', 'pages_2m %s' % before.get('pages_2m'))
        vm.migrate('file:' + os.path.join(opts.workdir, 'ksplit.mig'))
        st = vm.wait_status(('completed', 'failed', 'cancelled'))
        check(st == 'completed', 'kvm-split: migration to a file completes', st)
        m = re.search(r'kvm_split_huge_pages_ahead (\d+) slots, (\d+) huge '
                      r'mappings split in (-?\d+) ms, ret (-?\d+)', vm.trace())
        check(m is not None and int(m.group(2)) > 0 and m.group(4) == '0',
              'kvm-split: migration split huge pages ahead',
              m.group(0) if m else 'no kvm_split_huge_pages_ahead trace')
        if m:
            log('#   %s' % m.group(0))
        after = vm.stats()
        split = after.get('split_huge_2m', 0) - before.get('split_huge_2m', 0)
        check(split >= before.get('pages_2m', 0),
              'kvm-split: split_huge_2m grew by the 2 MiB mappings there were',
              'grew %d, pages_2m was %d' % (split, before.get('pages_2m', 0)))
        check(after.get('pages_2m', 1) == 0,
              'kvm-split: no 2 MiB mapping left after the migration',
              'pages_2m %s' % after.get('pages_2m'))
        chunks = after.get('clear_dirty_chunks', 0) - \
            before.get('clear_dirty_chunks', 0)
        check(chunks > 0, 'kvm-split: KVM_CLEAR_DIRTY_LOG ran in chunks',
              'clear_dirty_chunks grew by %d' % chunks)
        check(caps_traced(vm)[-1:] == [('0x8000', '0')],
              'kvm-split: slots capped at 4 KiB during the migration',
              str(caps_traced(vm)))
        # A completed migration leaves the source stopped; "cont" restores.
        vm.qmp.cmd('cont')
        check(vm.wait_sweeps(1), 'kvm-split: guest resumes on the source')
        resumed = vm.stats()
        check(caps_traced(vm)[-1:] == [('0x0', '0')],
              'kvm-split: cap raised when the source resumes',
              str(caps_traced(vm)))
        check(resumed.get('pages_2m', 0) >= before.get('pages_2m', 0) * 9 // 10,
              'kvm-split: 2 MiB mappings back in place after "cont"',
              'pages_2m %s, before %s' % (resumed.get('pages_2m'),
                                          before.get('pages_2m')))
        check_ordering(vm, 'kvm-split')
    finally:
        vm.stop()


def check_ordering(vm, what):
    """The order of the slot updates around a migration, from the trace.

    Every update that turns dirty logging on (or keeps it on) carries the
    4 KiB cap, and the first of them follows the split ahead: KVM never
    splits at the first KVM_CLEAR_DIRTY_LOG or in vCPU write faults what
    the split left.  The cap is lifted only once logging is off (an update
    with logging and without the cap would be one that lifted it early).
    """
    ups = slot_updates(vm)
    logged = [(i, slot, f) for i, slot, f in ups if f & MEM_LOG_DIRTY]
    split = trace_index(vm, r'kvm_split_huge_pages_ahead ')
    uncapped = [(slot, hex(f)) for i, slot, f in logged
                if not f & MEM_MAX_PAGE_4K]
    check(logged and not uncapped,
          '%s: every slot update with dirty logging carries the 4 KiB cap'
          % what, '%d logged updates, uncapped %s' % (len(logged), uncapped))
    check(split is not None and logged and logged[0][0] > split,
          '%s: dirty logging turned on after the split ahead' % what,
          'split at trace line %s, first logged update at %s' %
          (split, logged[0][0] if logged else None))
    last_log = logged[-1][0] if logged else None
    lifted = [i for i, slot, f in ups
              if last_log is not None and i > last_log and
              not f & MEM_MAX_PAGE_MASK]
    check(lifted, '%s: the cap is lifted after dirty logging is off' % what,
          '%d updates without a cap after the last logged one' % len(lifted))


def test_unset(opts):
    """Without the properties, on kvm-split: exactly Debian's QEMU.

    No slot update carries a kvm-split flag, no kvm-split ioctl is made,
    and KVM's split and chunk statistics do not move during a migration
    (the module's clear_dirty_log_chunk is 0 in this run).
    """
    vm = VM(with_slot_trace(opts), 'unset', 'kvm')
    try:
        check(vm.wait_sweeps(2), 'unset: guest runs')
        before = vm.stats()
        vm.migrate('file:' + os.path.join(opts.workdir, 'unset.mig'))
        st = vm.wait_status(('completed', 'failed', 'cancelled'))
        check(st == 'completed', 'unset: migration to a file completes', st)
        after = vm.stats()
        ups = slot_updates(vm)
        flagged = [(slot, hex(f)) for i, slot, f in ups
                   if f & MEM_MAX_PAGE_MASK]
        logged = [1 for i, slot, f in ups if f & MEM_LOG_DIRTY]
        check(logged and not flagged,
              'unset: no slot update carries a kvm-split flag',
              '%d logged updates; flagged %s' % (len(logged), flagged))
        check('kvm_split_huge_pages' not in vm.trace() and
              'kvm_split_page_size_cap' not in vm.trace(),
              'unset: no kvm-split call during the migration')
        moved = ['%s %s -> %s' % (k, before.get(k), after.get(k))
                 for k in ('split_huge_2m', 'split_huge_1g',
                           'clear_dirty_chunks')
                 if before.get(k) != after.get(k)]
        check(not moved, 'unset: split and chunk statistics unchanged',
              ', '.join(moved))
        vm.qmp.cmd('cont')
        check(vm.wait_sweeps(1), 'unset: guest resumes after the migration')
    finally:
        vm.stop()


def test_failed_then_again(opts):
    """A migration that fails (its destination dies), then another.

    The failure, like a cancel, must give the huge pages back; the next
    migration must split them again and complete.
    """
    accel = 'kvm,split-huge-pages-ahead=on,clear-dirty-log-chunk=1M'
    uri = 'unix:' + os.path.join(opts.workdir, 'failed.sock')
    src = dst = None
    try:
        src = VM(opts, 'failed-src', accel)
        dst = VM(opts, 'failed-dst', 'kvm', incoming=True)
        check(src.wait_sweeps(2), 'failed: guest runs')
        before = src.stats()
        dst.qmp.cmd('migrate-incoming', uri=uri)
        src.migrate(uri, bandwidth=1 << 20)
        st = src.wait_status(('active', 'completed', 'failed', 'cancelled'))
        check(st == 'active', 'failed: migration active', st)
        time.sleep(2)
        during = src.stats()
        dst.proc.kill()
        dst.proc.wait()
        st = src.wait_status(('failed', 'cancelled', 'completed'))
        check(st == 'failed', 'failed: migration fails when the destination '
              'dies', st)
        check(src.wait_sweeps(2), 'failed: guest runs on after the failure')
        after = src.stats()
        check(during.get('pages_2m', 1) == 0 and
              after.get('pages_2m', 0) >= before.get('pages_2m', 0) * 9 // 10,
              'failed: 2 MiB mappings split during it, back after it',
              'pages_2m before %s, during %s, after %s' %
              (before.get('pages_2m'), during.get('pages_2m'),
               after.get('pages_2m')))
        check(caps_traced(src)[-1:] == [('0x0', '0')],
              'failed: cap raised again', str(caps_traced(src)))
        src.migrate('file:' + os.path.join(opts.workdir, 'again.mig'))
        st = src.wait_status(('completed', 'failed', 'cancelled'))
        check(st == 'completed', 'again: a second migration completes', st)
        done = src.stats()
        split = done.get('split_huge_2m', 0) - after.get('split_huge_2m', 0)
        check(split >= after.get('pages_2m', 1) and
              done.get('pages_2m', 1) == 0,
              'again: it split the rebuilt 2 MiB mappings ahead',
              'split_huge_2m grew %d, pages_2m was %s, is %s' %
              (split, after.get('pages_2m'), done.get('pages_2m')))
        src.qmp.cmd('cont')
        check(src.wait_sweeps(1), 'again: guest resumes on the source')
        log('#   pages_2m before %s, during %s, after the failure %s, after '
            'the second migration %s' % (before.get('pages_2m'),
                                         during.get('pages_2m'),
                                         after.get('pages_2m'),
                                         done.get('pages_2m')))
    finally:
        for vm in (src, dst):
            if vm:
                vm.stop()


def test_paused_cancel(opts):
    """A stopped guest is not split ahead: nothing is left to restore.

    With no vCPU running, no fault can stall on mmu_lock, so the series
    neither splits nor caps (0006); KVM splits at the first clears as it
    does without the series.  A cancel and "cont" must leave the guest
    running on huge pages again, with no kvm-split call and no slot
    update carrying a cap.
    """
    accel = 'kvm,split-huge-pages-ahead=on'
    vm = VM(with_slot_trace(opts), 'paused', accel)
    try:
        check(vm.wait_sweeps(2), 'paused: guest runs')
        vm.qmp.cmd('stop')
        before = vm.stats()
        start_slow_migration(opts, vm, 'paused')
        vm.qmp.cmd('migrate_cancel')
        st = vm.wait_status(('cancelled', 'failed', 'completed'))
        check(st == 'cancelled', 'paused: migration cancelled', st)
        vm.qmp.cmd('cont')
        check(vm.wait_sweeps(2), 'paused: guest runs on')
        after = vm.stats()
        capped = [(slot, hex(f)) for i, slot, f in slot_updates(vm)
                  if f & MEM_MAX_PAGE_MASK]
        check('kvm_split_huge_pages' not in vm.trace() and not capped,
              'paused: no split ahead and no cap for a stopped guest',
              'capped updates %s' % capped)
        check(after.get('pages_2m', 0) >= before.get('pages_2m', 0) * 9 // 10,
              'paused: 2 MiB mappings back after "cont"',
              'pages_2m %s, before %s' % (after.get('pages_2m'),
                                          before.get('pages_2m')))
    finally:
        vm.stop()

def slow_faults(before, after):
    """vCPU page faults fixed on the slow path between two vcpu stats.

    A huge mapping rebuilt in place from 4 KiB entries that dirty logging
    write-protected in part is rebuilt write-protected: the guest's first
    write to it takes a fast page fault (pf_fast; also counted in
    pf_fixed).  A zapped one is faulted back on the slow path.
    """
    return (after.get('pf_fixed', 0) - before.get('pf_fixed', 0)) - \
        (after.get('pf_fast', 0) - before.get('pf_fast', 0))


def start_slow_migration(opts, vm, what):
    """A migration to a file at 1 MB/s, which stays active for minutes;
    returns 2 s after it became active."""
    vm.migrate('file:' + os.path.join(opts.workdir, vm.name + '.mig'),
               bandwidth=1 << 20)
    st = vm.wait_status(('active', 'completed', 'failed', 'cancelled'))
    check(st == 'active', what + ': migration active', st)
    time.sleep(2)


def test_cancel(opts):
    accel = 'kvm,split-huge-pages-ahead=on,clear-dirty-log-chunk=1M'
    vm = VM(opts, 'cancel', accel)
    try:
        check(vm.wait_sweeps(2), 'cancel: guest runs')
        before = vm.stats()
        start_slow_migration(opts, vm, 'cancel')
        during = vm.stats()
        check(during.get('pages_2m', 1) == 0,
              'cancel: no 2 MiB mapping while the migration runs',
              'pages_2m %s' % during.get('pages_2m'))
        vcpu0 = vm.stats('vcpu')
        vm.qmp.cmd('migrate_cancel')
        st = vm.wait_status(('cancelled', 'failed', 'completed'))
        check(st == 'cancelled', 'cancel: migration cancelled', st)
        check(vm.wait_sweeps(2), 'cancel: guest runs on after the cancel')
        after = vm.stats()
        slow = slow_faults(vcpu0, vm.stats('vcpu'))
        check(caps_traced(vm)[-1:] == [('0x0', '0')],
              'cancel: cap raised again', str(caps_traced(vm)))
        check(after.get('pages_2m', 0) >= before.get('pages_2m', 0) * 9 // 10
              and slow < before.get('pages_2m', 0) // 2,
              'cancel: 2 MiB mappings back in place, with no slow-path fault',
              'pages_2m %s, before %s; %d slow-path faults' %
              (after.get('pages_2m'), before.get('pages_2m'), slow))
        log('#   pages_2m before %s, during %s, after %s; %d slow-path '
            'faults from the cancel on' %
            (before.get('pages_2m'), during.get('pages_2m'),
             after.get('pages_2m'), slow))
    finally:
        vm.stop()


def test_cancel_early(opts):
    """migrate_cancel right after migrate: while the split may still run.

    Whether the cancel lands before the split, in it (between two slices:
    kvm_split_huge_pages_ahead ends with ret -125, and the restore lowers
    the cap to 2 MiB before raising it) or after it is a race; each path
    must end with the guest running on huge pages.  The path taken is
    printed.
    """
    accel = 'kvm,split-huge-pages-ahead=on'
    vm = VM(opts, 'early', accel)
    try:
        check(vm.wait_sweeps(2), 'cancel-early: guest runs')
        before = vm.stats()
        vm.qmp.cmd('migrate-set-parameters', **{'max-bandwidth': 1 << 20})
        vm.qmp.cmd('migrate',
                   uri='file:' + os.path.join(opts.workdir, 'early.mig'))
        vm.qmp.cmd('migrate_cancel')
        st = vm.wait_status(('cancelled', 'failed', 'completed'))
        check(st == 'cancelled', 'cancel-early: migration cancelled', st)
        check(vm.wait_sweeps(2), 'cancel-early: guest runs on')
        after = vm.stats()
        m = re.search(r'kvm_split_huge_pages_ahead .*', vm.trace())
        caps = caps_traced(vm)
        log('#   path: %s; caps %s' % (m.group(0) if m else 'split not reached',
                                      caps))
        check(not caps or caps[-1] == ('0x0', '0'),
              'cancel-early: cap raised again (or never lowered)', str(caps))
        check(after.get('pages_2m', 0) >= before.get('pages_2m', 0) * 9 // 10,
              'cancel-early: 2 MiB mappings there after the cancel',
              'pages_2m %s, before %s' % (after.get('pages_2m'),
                                          before.get('pages_2m')))
    finally:
        vm.stop()


def test_migrate_verified(opts, flavour, accel):
    """A live migration to a second QEMU; the guest verifies its RAM there.

    The guest keeps writing all of its RAM, so the migration converges only
    by stopping it (downtime-limit 60 s): the first pass runs with the
    guest dirtying pages under dirty logging (and, with kvm-split, after
    the split ahead and with chunked clears), the rest is sent stopped.
    On the destination every page must hold what the source's guest last
    wrote: the guest checks each page before it writes it again.
    """
    what = '%s: live migration to a second QEMU' % flavour
    uri = 'unix:' + os.path.join(opts.workdir, flavour + '.sock')
    src = dst = None
    try:
        src = VM(opts, flavour + '-src', accel)
        dst = VM(opts, flavour + '-dst', 'kvm', incoming=True)
        check(src.wait_sweeps(3), what + ': source guest runs and verifies')
        dst.qmp.cmd('migrate-incoming', uri=uri)
        src.migrate(uri)
        st = src.wait_status(('completed', 'failed', 'cancelled'), 600)
        check(st == 'completed', what + ' completes', st)
        info = src.qmp.cmd('query-migrate')
        log('#   total %s ms, downtime %s ms, setup %s ms, %s bytes' %
            (info.get('total-time'), info.get('downtime'),
             info.get('setup-time'),
             info.get('ram', {}).get('transferred')))
        check(dst.wait_sweeps(3, 120) and not dst.bad(),
              what + ': the guest verifies all of its RAM on the destination',
              'sweeps %d, BAD %s: %s' % (dst.sweeps(), dst.bad(),
                                         dst.output()[-200:]))
        check(not src.bad(), what + ': no bad page on the source')
    finally:
        for vm in (src, dst):
            if vm:
                vm.stop()


def test_1g(opts):
    """1 GiB pages: split ahead to 4 KiB, then rebuilt in place.

    A 2 GiB guest on 1 GiB hugetlb pages: KVM maps guest memory from 1 GiB
    to 2 GiB with one 1 GiB mapping.  A migration splits it (split_huge_1g)
    and, once cancelled, raising the cap must rebuild it: 4 KiB tables into
    2 MiB mappings, then those into the 1 GiB mapping.
    """
    path = '/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages'
    with open(path) as f:
        have = int(f.read())
    if not check(have >= 2, '1g: two 1 GiB pages reserved', 'have %d' % have):
        return
    o = argparse.Namespace(**vars(opts))
    o.mem, o.hugesize = 2048, '1G'
    vm = VM(o, 'huge1g', 'kvm,split-huge-pages-ahead=on')
    try:
        check(vm.wait_sweeps(2, 120), '1g: guest runs')
        before = vm.stats()
        check(before.get('pages_1g', 0) >= 1,
              '1g: guest RAM mapped with a 1 GiB page before the migration',
              'pages_1g %s' % before.get('pages_1g'))
        start_slow_migration(opts, vm, '1g')
        during = vm.stats()
        check(during.get('pages_1g', 1) == 0 and
              during.get('pages_2m', 1) == 0 and
              during.get('split_huge_1g', 0) > before.get('split_huge_1g', 0),
              '1g: split to 4 KiB while the migration runs',
              'pages_1g %s, pages_2m %s, split_huge_1g %s' %
              (during.get('pages_1g'), during.get('pages_2m'),
               during.get('split_huge_1g')))
        vm.qmp.cmd('migrate_cancel')
        st = vm.wait_status(('cancelled', 'failed', 'completed'))
        check(st == 'cancelled', '1g: migration cancelled', st)
        check(vm.wait_sweeps(2, 120), '1g: guest runs on after the cancel')
        after = vm.stats()
        check(after.get('pages_1g', 0) >= before.get('pages_1g', 0),
              '1g: the 1 GiB mapping rebuilt in place',
              'pages_1g %s, before %s' % (after.get('pages_1g'),
                                          before.get('pages_1g')))
        log('#   pages_1g before %s, during %s, after %s; pages_2m before %s, '
            'after %s' % (before.get('pages_1g'), during.get('pages_1g'),
                          after.get('pages_1g'), before.get('pages_2m'),
                          after.get('pages_2m')))
    finally:
        vm.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--payload')
    ap.add_argument('--expect', choices=('stock', 'kvm-split'))
    ap.add_argument('--no-kvm', action='store_true')
    ap.add_argument('--mem', type=int, default=256, help='guest MiB')
    ap.add_argument('--workdir')
    opts = ap.parse_args()
    opts.workdir = os.path.abspath(opts.workdir or
                                   tempfile.mkdtemp(prefix='qemu-patch-'))
    os.makedirs(opts.workdir, exist_ok=True)
    if not opts.no_kvm and (not opts.expect or not opts.payload):
        ap.error('--expect and --payload are needed unless --no-kvm')

    try:
        test_properties(opts)
        if not opts.no_kvm:
            flavour, caps = kvm_flavour()
            if check(flavour == opts.expect,
                     'kvm: /dev/kvm is %s' % opts.expect,
                     'found %s (caps %s)' % (flavour, caps)):
                ensure_hugepages(opts)
                if flavour == 'stock':
                    test_stock(opts)
                    test_migrate_verified(opts, 'stock', 'kvm')
                else:
                    test_unset(opts)
                    test_kvm_split(opts)
                    test_cancel(opts)
                    test_failed_then_again(opts)
                    test_paused_cancel(opts)
                    test_cancel_early(opts)
                    test_1g(opts)
                    test_migrate_verified(
                        opts, 'kvm-split', 'kvm,split-huge-pages-ahead=on,'
                        'clear-dirty-log-chunk=1M')
    except (Failure, OSError, subprocess.SubprocessError) as e:
        check(False, 'test ran to the end', str(e))
    if restarts:
        log('# %d guest(s) started again after the firmware stall: %s' %
            (len(restarts), ', '.join(restarts)))
    log('# %d failure(s)%s; logs in %s' %
        (len(failures), (': ' + ', '.join(failures)) if failures else '',
         opts.workdir))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
